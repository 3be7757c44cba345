"""The English sentence of every check finding, by code (the CLI prints them; docs/checks.md lists the codes).

A finding's :class:`~newsletter.wording.Wording` has the finding's code; the
phrases its sentences are made of (what a link is missing, which part holds
leftover template code) have codes of their own. The workspace words each
code in Danish in :mod:`newsletter.web.admin.library_words`.
"""

from __future__ import annotations

from newsletter.wording import Texts

CHECK_TEXTS = Texts(
    {
        # Size and inbox line
        "html-too-large": "the HTML is {kb:.1f} KB; Gmail clips messages over 102 KB and hides the rest, "
        "unsubscribe link included — shorten the issue or use fewer sections",
        "html-large": "the HTML is {kb:.1f} KB, close to Gmail's 102 KB clipping limit — keep the issue short",
        "style-too-large": "a <style> block (HTML line {html_line}) is {kb:.1f} KB; Gmail ignores style blocks "
        "over 16 KB and phones lose the responsive layout — trim the template's CSS",
        "subject-missing": "the subject is empty — add 'subject: …' to the front matter",
        "subject-too-long": "the subject is {length} characters; inboxes cut it after about {limit} — shorten it",
        "subject-long": "the subject is {length} characters; phones show about {limit} — consider shortening it",
        "preheader-missing": "no preheader: the inbox shows the first body text instead — "
        "add 'preheader:' to the front matter",
        "preheader-not-in-html": "the preheader is not in the HTML: the inbox shows the first body text "
        "instead — keep the hidden preheader in the base template",
        # The template's HTML
        "table-role-missing": '{count} <table> without role="presentation" (HTML line {lines}): screen readers '
        'announce layout tables as data — add role="presentation"',
        "html-lang-missing": "<html> has no lang attribute: screen readers read the email in the wrong "
        "language — set lang in the base template",
        "html-lang-mismatch": "<html lang={found!r}> but the issue's language is {lang!r} — "
        "check 'lang:' in the front matter",
        "leftover-marker": "the {part} still contains {what} ({snippet!r}): a template or merge step did not "
        "run — fix the template or the issue text",
        "part-html": "HTML",
        "part-text": "plain-text part",
        "marker-jinja-expression": "a Jinja2 expression",
        "marker-jinja-statement": "a Jinja2 statement",
        "marker-mjml-tag": "an MJML tag",
        "marker-placeholder": "an unmerged recipient placeholder",
        "placeholder-unknown": "content has unknown merge placeholders: {names} — use only known merge values",
        # Images
        "image-alt-missing": "image {image} has no alt text — write ![what it shows](…) in the issue",
        "image-alt-empty": "image {image} has empty alt text: fine only for decoration — describe it otherwise",
        "image-width-missing": "image {image} has no width attribute: Outlook shows it at its natural size — {fix}",
        "image-width-fix-issue": "put the image on a line of its own in the issue (it then gets the column's width)",
        "image-width-fix-template": "give the template's <img> a width attribute",
        "image-on-line": "<img> on HTML line {html_line}",
        "image-src-missing": "an image on HTML line {html_line} has no src",
        "insecure-image": "image {src} uses http://: mail clients block or warn — use https://",
        "image-folder-link": "{name} {problem}",
        # Links
        "link-invalid": "link {href!r} (HTML line {html_line}) {problem}",
        "link-empty": "is empty — give the link an address",
        "link-hash": "points to '#' (nowhere in an email) — give it a real address",
        "link-javascript": "uses javascript:, which mail clients remove — link to a web page instead",
        "link-spaces": "contains spaces — remove them or write %20",
        "link-no-host": "has no valid host name — write a full address like https://example.dk/page",
        "link-bad-port": "has an invalid port",
        "link-address-missing": "is an empty {scheme}: link — add the address",
        "link-relative": "is relative: mail clients cannot follow it — write a full https:// address",
        "link-scheme-unsupported": "uses the unsupported scheme {scheme}: — use https:// or mailto:",
        "insecure-link": "link {href} uses http:// — use https:// if the site supports it",
        "text-missing": "the plain-text part is empty: some readers and spam filters rely on it — "
        "check the text renderer",
        "text-link-missing": "the plain-text part lacks the link {href} that the HTML has — "
        "readers of the text version cannot follow it",
        # Unsubscribing
        "unsubscribe-link-missing": "the body has no unsubscribe link: the law and Gmail/Yahoo's bulk-sender "
        "rules require one — keep {{{{ unsubscribe_url }}}} in the template's footer",
        "list-unsubscribe-missing": "no List-Unsubscribe header with an https:// address: Gmail and Yahoo "
        "require one-click unsubscribe for bulk mail",
        "list-unsubscribe-post-missing": "no 'List-Unsubscribe-Post: List-Unsubscribe=One-Click' header "
        "(RFC 8058): Gmail and Yahoo require it for bulk mail",
        "list-id-missing": "no List-Id header (RFC 2919): mail programs recognise and filter the newsletter "
        "by it — check [defaults] list and [site] base_url in the settings",
        "list-id-invalid": "the List-Id header {value!r} is not 'Title <list.domain>' (RFC 2919) — "
        "check [defaults] list and the host of [site] base_url",
        # The issue's own text
        "unfinished-text": "this line still has the new issue's stand-in text ('{text}') — "
        "write the issue's own text or delete the line",
        # --online
        "links-not-checked": "the {count} link(s) could not be checked: this machine seems to be offline "
        "(no name could be looked up) — connect it to the internet and run check --online again",
        "link-unreachable": "{url} {problem}",
        "answers-error": "answers HTTP {status} — fix or remove the link",
        "answer-too-slow": "did not answer in time — check the address",
        "cannot-be-reached": "cannot be reached ({error}) — check the address",
        "name-not-found": "points at {host}, a name that could not be looked up — check the address "
        "(or whether this machine is online)",
        "connection-refused": "is on {host}, which refused the connection — check the address, "
        "or try again later",
        # An issue that cannot be read or rendered (issue-invalid is worded by the issue's own problem)
        "template-error": "{problem}",
        # SpamAssassin
        "spam-score": "SpamAssassin gives the message {score}; spam filters count every point — "
        "docs/checks.md says what each rule means and how to avoid it",
        "spam-score-unknown": "{problem} — the spam score was not checked",
    }
)
