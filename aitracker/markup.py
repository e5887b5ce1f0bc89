"""Markup that a page repeats many times, built in Python: a progress update's article (a commitment's timeline
shows thirty of them) and a commitment's row for each party it binds (up to about 200). Through the template
engine, one update cost about half a millisecond and one party's row a fifth (variables looked up node by node,
an include and its context for each); here each is a few string joins.

The markup is exactly what the templates it was written from give (tests/plain_update.html,
tests/plain_party_rows.html): tests/test_markup.py renders every kind of update and row both ways (checks,
status changes, acting parties, corrections, sources with and without their optional parts, staff links; rows
never updated, stale, filtered to nothing) in every language and compares them byte for byte. Change both
together.
"""

from django.urls import reverse
from django.utils.html import conditional_escape
from django.utils.translation import gettext, ngettext, pgettext

from .i18n import translated_html
from .templatetags.aitracker_tags import (
    confidence_badge_html,
    display_date,
    http_url,
    progress_bar_html,
    status_badge_html,
    time_tag,
)


def _escaped(value) -> str:
    return str(conditional_escape(value))


def update_article_html(update, *, show_commitment: bool, show_sources: bool, staff_links: bool) -> str:
    """The <article> of one progress update. `update.party_list` and `update.source_list`, when set (a
    commitment's timeline reads them in one query each), stand for its parties and sources; else they are read
    from the update (prefetched by the list that shows it). `staff_links`: the viewer may correct it."""
    parties = getattr(update, "party_list", None)
    if parties is None:
        parties = list(update.parties.all())
    is_check = update.is_check
    out = [
        '<article class="update',
        " is-uncertain" if update.confidence == "uncertain" else "",
        f'" id="update-{update.pk}">\n  <header class="update-header">\n    ',
    ]
    if show_commitment:
        commitment = update.commitment
        out += [
            '<p class="update-context">',
            translated_html(commitment.instrument, "short_title"),
            ", ",
            translated_html(commitment, "reference"),
            "</p>",
        ]
    out.append('\n    <h3 class="update-title">\n      ')
    if show_commitment:
        out += [
            '<a href="',
            _escaped(update.commitment.get_absolute_url()),
            '">',
            translated_html(update.commitment, "title"),
            "</a>",
        ]
    else:
        out.append(time_tag(update.reported_on))
    out.append('\n    </h3>\n    \n    <p class="update-meta">\n      ')
    previous = getattr(update, "previous_status", None)
    if is_check:
        out += ['\n        <span class="badge badge-check">', gettext("Checked, nothing new"), "</span>\n      "]
    elif not parties and previous and previous != update.status:
        out += [
            '\n        <span class="status-change">',
            status_badge_html(previous),
            '<span class="arrow" aria-hidden="true">→</span><span class="visually-hidden">',
            gettext("changed to"),
            "</span> ",
            status_badge_html(update.status),
            "</span>\n      ",
        ]
    else:
        out += ["\n        ", status_badge_html(update.status), "\n      "]
    out.append("\n      ")
    if update.progress is not None:
        progress = gettext("Progress %(progress)s%%") % {"progress": _escaped(update.progress)}
        out += ['<span class="meta-item">', progress, "</span>"]
    out += [
        '\n      <span class="meta-item">',
        gettext("Confidence:"),
        " ",
        confidence_badge_html(update.confidence),
        '</span>\n    </p>\n    <p class="update-dates meta-line">\n      ',
    ]
    reported = {"date": time_tag(update.reported_on)}
    out.append((gettext("Searched on %(date)s") if is_check else gettext("Event: %(date)s")) % reported)
    out.append("\n      ")
    if update.published_on:
        published = gettext("Published: %(date)s") % {"date": time_tag(update.published_on)}
        out += ['· <span class="meta-item">', published, "</span>"]
    out += [
        '\n    </p>\n  </header>\n  <div class="prose">',
        translated_html(update, "summary_html", "html"),
        "</div>\n  ",
    ]
    if parties:
        label = (
            gettext("Checked for:")
            if is_check
            else ngettext("Acting party:", "Acting parties:", len(parties)) % {"counter": len(parties)}
        )
        separator = pgettext("list separator", ", ")
        links = separator.join(
            f'<a href="{_escaped(party.get_absolute_url())}">{translated_html(party, "name")}</a>' for party in parties
        )
        out += ['<p class="meta-line">', label, " ", links, "</p>\n  "]
    else:
        out += ['<p class="meta-line">', gettext("About the commitment as a whole."), "</p>"]
    out.append("\n    \n  ")
    if update.corrected_at:
        corrected = gettext("Corrected on %(date)s.") % {"date": _escaped(display_date(update.corrected_at))}
        out += ['\n  <p class="correction"><strong>', corrected, "</strong>"]
        if update.correction_note:
            out += [" ", translated_html(update, "correction_note")]
        out.append("</p>\n  ")
    out.append("\n  ")
    if show_sources:
        sources = getattr(update, "source_list", None)
        if sources is None:
            sources = update.sources.all()
        out += ['\n  <div class="sources">\n    <h4>', gettext("Sources"), "</h4>\n    <ul>\n      "]
        for source in sources:
            out += [
                '\n      <li>\n        <a href="',
                _escaped(http_url(source.url)),
                '" rel="nofollow noopener">',
                _escaped(source.title),
                "</a>",
            ]
            if source.publisher:
                out += [', <span class="publisher">', _escaped(source.publisher), "</span>"]
            if source.published_on:
                out += [", ", time_tag(source.published_on)]
            out.append("\n        ")
            if source.may_be_broken:
                out += ['<span class="link-warning">', gettext("This link may be broken."), "</span>"]
            out.append("\n        ")
            if source.archived_url:
                out += [
                    '(<a href="',
                    _escaped(http_url(source.archived_url)),
                    '" rel="nofollow noopener">',
                    gettext("archived copy"),
                    "</a>)",
                ]
            out.append("\n      </li>\n      ")
        out.append("\n    </ul>\n  </div>\n  ")
    out.append("\n  ")
    if staff_links and update.state == "published":
        out += [
            '\n  <p class="update-staff-actions"><a href="',
            _escaped(reverse("update_correct", args=[update.pk])),
            '">',
            gettext("Correct"),
            '</a> <a href="',
            _escaped(reverse("update_history", args=[update.pk])),
            '">',
            gettext("History"),
            "</a></p>\n  ",
        ]
    out.append("\n</article>\n")
    return "".join(out)


def party_rows_html(rows, *, party_status: str) -> str:
    """The rows of a commitment's table of the parties it binds (PartyStatus rows with their party), or the row
    saying there is none (none with `party_status`, when the table is filtered by it)."""
    if not rows:
        if party_status:
            empty = gettext("No bound party has this status.")
        else:
            empty = gettext("No party is recorded as bound by this commitment yet.")
        return f'\n        <tr><td colspan="5">{empty}</td></tr>\n        '
    never, stale = gettext("Never"), gettext("Stale")
    out = []
    for row in rows:
        party = row.party
        if row.latest_update_id:
            last_update = f'<a href="#update-{row.latest_update_id}">{time_tag(row.last_update_on)}</a>'
        else:
            last_update = never
        if row.last_reviewed_on:
            reviewed = time_tag(row.last_reviewed_on)
            if row.is_stale:
                reviewed += f' <span class="badge badge-stale">{stale}</span>'
        else:
            reviewed = "—"
        out.append(
            f'\n        <tr id="party-{_escaped(party.slug)}">'
            f'\n          <th scope="row"><a href="{_escaped(party.get_absolute_url())}">'
            f"{translated_html(party, 'name')}</a></th>"
            f"\n          <td>{status_badge_html(row.status)}</td>"
            f'\n          <td class="col-progress">{progress_bar_html(row.progress)}</td>'
            f'\n          <td class="nowrap">{last_update}</td>'
            f'\n          <td class="nowrap">{reviewed}</td>'
            "\n        </tr>\n        "
        )
    return "".join(out)
