"""The accessibility audit the browser tests share: axe-core (tests/vendor/axe.min.js) run on the page as it is,
for WCAG 2.2 A and AA and axe's best practices. The page's CSP rightly forbids the injected script: a test audits
in a browser context made with `bypass_csp=True`, and only that one."""

from pathlib import Path

AXE = Path(__file__).parent / "vendor" / "axe.min.js"
TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"]


def serious_violations(page) -> list[str]:
    """The serious and critical violations on the page, each with the first places it is found."""
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("async (tags) => await axe.run(document, {runOnly: {type: 'tag', values: tags}})", TAGS)
    return [
        f"{violation['id']} ({violation['impact']}): {violation['help']} at "
        + ", ".join(str(node["target"][0]) for node in violation["nodes"][:4])
        for violation in result["violations"]
        if violation["impact"] in ("serious", "critical")
    ]
