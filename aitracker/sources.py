"""What counts as a primary source: one rule, used by the data check and anything else that needs to tell a
UN, government or organisation page from a report about it.

A "confirmed" fact must rest on at least one primary source (methodology: a UN body, a government or the
organisation itself says it); a fact that only the press reports is "reported".
"""

from urllib.parse import urlsplit

# Organisations whose own pages are primary for what they publish. A host matches a domain when it is that
# domain or one of its subdomains (press.un.org, docs.un.org).
PRIMARY_DOMAINS = (
    "un.org",
    "ungeneva.org",
    "unesco.org",
    "itu.int",
    "iea.org",
    "oecd.org",
    "au.int",
    "europa.eu",
    "coe.int",
    "elysee.fr",
    "fmprc.gov.cn",
    "vatican.va",
    "admin.ch",
)

# Government hosts by their second-level label: industry.gov.au, www.gov.uk, mirri.gov.sk, diplomatie.gouv.fr,
# whitehouse.gov, gob.mx, govt.nz.
GOVERNMENT_LABELS = {"gov", "gouv", "gob", "govt"}
# Short labels that mean "government" only right before a country code: mofa.go.jp, msit.go.kr, pm.gc.ca.
COUNTRY_GOVERNMENT_LABELS = {"go", "gc"}


def host_of(url: str) -> str:
    return (urlsplit(url).hostname or "").lower().rstrip(".")


def is_http_url(url: str) -> bool:
    return url.startswith(("http://", "https://")) and bool(host_of(url))


def is_primary_source(url: str) -> bool:
    """True for a UN, government or organisation page (see PRIMARY_DOMAINS and the government labels)."""
    host = host_of(url)
    if not host:
        return False
    if any(host == domain or host.endswith(f".{domain}") for domain in PRIMARY_DOMAINS):
        return True
    labels = host.split(".")
    if labels[-1] == "gov" or any(label in GOVERNMENT_LABELS for label in labels[:-1]):
        return True
    return len(labels) >= 3 and labels[-2] in COUNTRY_GOVERNMENT_LABELS and len(labels[-1]) == 2
