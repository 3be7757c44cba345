"""The library's own messages in the workspace's language: check findings, an issue file's problems, import rows.

The library says each of these as a :class:`~newsletter.wording.Wording` — a
code, its values and its English sentence from the library's table (the CLI
prints that sentence). The workspace shows it in English as the library words
it, and in Danish from :data:`LIBRARY_DANISH`, keyed by the same codes and
filled with the same values; a value that is itself a wording (a phrase) is
worded in Danish the same way. A code without Danish here — a check added
without its translation — is shown in the library's English rather than not
at all; ``tests/web/admin/test_library_words.py`` finds every code in the
library's tables and fails until each has its Danish.

Danish texts start with a capital when they are a whole message and in lower
case when they are a phrase in another message (marked below) or follow
"Linje 3:" on the import pages. They say what to do in the workspace's
terms: "øverst i teksten" for the front matter, the »Billede« button for an
image file.
"""

from __future__ import annotations

import string
from collections.abc import Callable
from typing import Any

from newsletter.wording import Wording, fill

LIBRARY_DANISH: dict[str, str] = {
    # --- Check findings (newsletter.checks.texts) -----------------------------------------------
    "html-too-large": "E-mailen fylder {kb:.1f} KB. Gmail klipper e-mails over 102 KB af og skjuler resten "
    "– også frameldingslinket. Gør nyhedsbrevet kortere, eller brug færre afsnit",
    "html-large": "E-mailen fylder {kb:.1f} KB – tæt på Gmails grænse på 102 KB, hvor resten klippes af. "
    "Hold nyhedsbrevet kort",
    "style-too-large": "En <style>-blok i skabelonen (HTML-linje {html_line}) fylder {kb:.1f} KB. Gmail "
    "ignorerer blokke over 16 KB, og så passer layoutet ikke på telefoner – bed den, der vedligeholder "
    "skabelonen, om at gøre CSS'en mindre",
    "subject-missing": "Emnet er tomt – skriv 'subject: …' øverst i teksten, mellem linjerne '---'",
    "subject-too-long": "Emnet er {length} tegn langt. Indbakker skærer det af efter omkring {limit} tegn "
    "– gør det kortere",
    "subject-long": "Emnet er {length} tegn langt. Telefoner viser omkring {limit} tegn – overvej at gøre "
    "det kortere",
    "preheader-missing": "Der er ingen preheader, så indbakken viser starten af teksten i stedet – tilføj "
    "'preheader: …' øverst i teksten, mellem linjerne '---'",
    "preheader-not-in-html": "Preheaderen kommer ikke med i e-mailen, så indbakken viser starten af "
    "teksten i stedet – bed den, der vedligeholder skabelonen, om at beholde den skjulte preheader",
    "table-role-missing": 'Skabelonen har {count} <table> uden role="presentation" (HTML-linje {lines}), '
    "så skærmlæsere læser layoutet op som tabeller – bed den, der vedligeholder skabelonen, om at "
    'tilføje role="presentation"',
    "html-lang-missing": "Skabelonen siger ikke, hvilket sprog e-mailen er på (lang mangler på <html>), så "
    "skærmlæsere læser den op på det forkerte sprog – bed den, der vedligeholder skabelonen, om at rette det",
    "html-lang-mismatch": "E-mailen er markeret med sproget {found!r}, men nyhedsbrevet er på {lang!r} – "
    "tjek 'lang:' øverst i teksten",
    "leftover-marker": "Der står stadig {what} ({snippet!r}) i {part}, fordi et trin i skabelonen eller "
    "flettningen ikke blev kørt – ret skabelonen eller nyhedsbrevets tekst",
    "part-html": "e-mailen",  # phrase
    "part-text": "tekstdelen",  # phrase
    "marker-jinja-expression": "skabelonkode (et Jinja2-udtryk)",  # phrase
    "marker-jinja-statement": "skabelonkode (en Jinja2-kommando)",  # phrase
    "marker-mjml-tag": "skabelonkode (et MJML-tag)",  # phrase
    "marker-placeholder": "en flettekode, der ikke er udfyldt",  # phrase
    "placeholder-unknown": "Skabelonen bruger flettekoder, der ikke findes: {names} – brug kun de kendte "
    "flettekoder",
    "image-alt-missing": "Billedet {image} har ingen alternativ tekst – skriv, hvad det viser: "
    "![hvad billedet viser](…)",
    "image-alt-empty": "Billedet {image} har en tom alternativ tekst. Det er kun i orden for pynt – "
    "beskriv ellers, hvad billedet viser",
    "image-width-missing": "Billedet {image} har ingen bredde, så Outlook viser det i fuld størrelse – {fix}",
    "image-width-fix-issue": "sæt billedet på sin egen linje i teksten (så får det spaltens bredde)",  # phrase
    "image-width-fix-template": "bed den, der vedligeholder skabelonen, om at give <img> en bredde (width)",
    "image-on-line": "<img> på HTML-linje {html_line}",  # phrase
    "image-src-missing": "Et billede på HTML-linje {html_line} har ingen adresse (src)",
    "insecure-image": "Billedet {src} hentes med http://, som e-mailprogrammer blokerer eller advarer om – "
    "brug https://",
    "image-folder-link": "{name} {problem}",
    "link-invalid": "Linket {href!r} (HTML-linje {html_line}) {problem}",
    "link-empty": "er tomt – giv linket en adresse",  # phrase
    "link-hash": "peger på '#', som ikke fører nogen steder hen i en e-mail – giv det en rigtig adresse",
    "link-javascript": "bruger javascript:, som e-mailprogrammer fjerner – link til en webside i stedet",
    "link-spaces": "indeholder mellemrum – fjern dem, eller skriv %20",  # phrase
    "link-no-host": "har ikke et gyldigt domænenavn – skriv en fuld adresse som https://example.dk/side",
    "link-bad-port": "har et ugyldigt portnummer – ret adressen",  # phrase
    "link-address-missing": "er et tomt {scheme}:-link – skriv adressen",  # phrase
    "link-relative": "er ikke en fuld adresse, så e-mailprogrammer kan ikke følge det – skriv hele "
    "adressen med https://",
    "link-scheme-unsupported": "begynder med {scheme}:, som ikke kan bruges – brug https:// eller mailto:",
    "insecure-link": "Linket {href} bruger http:// – brug https://, hvis hjemmesiden kan det",
    "text-missing": "Tekstdelen er tom. Nogle læsere og spamfiltre bruger den – bed den, der vedligeholder "
    "skabelonerne, om at tjekke den",
    "text-link-missing": "Tekstdelen mangler linket {href}, som står i e-mailen – de, der læser tekstdelen, "
    "kan ikke følge det",
    "unsubscribe-link-missing": "E-mailen har intet frameldingslink. Loven og Gmails og Yahoos regler for "
    "masseudsendelser kræver et – skabelonens bund skal beholde {{{{ unsubscribe_url }}}}",
    "list-unsubscribe-missing": "E-mailen mangler feltet List-Unsubscribe med en https://-adresse. Gmail og "
    "Yahoo kræver framelding med ét klik ved masseudsendelser",
    "list-unsubscribe-post-missing": "E-mailen mangler feltet 'List-Unsubscribe-Post: "
    "List-Unsubscribe=One-Click' (RFC 8058). Gmail og Yahoo kræver det ved masseudsendelser",
    "unfinished-text": "Linjen har stadig eksempelteksten fra det nye nyhedsbrev ('{text}') – skriv "
    "nyhedsbrevets egen tekst, eller slet linjen",
    "links-not-checked": "De {count} links kunne ikke tjekkes, fordi maskinen ser ud til at være uden "
    "internet – forbind den til internettet, og tjek igen",
    "link-unreachable": "{url} {problem}",
    "answers-error": "svarer med fejl (HTTP {status}) – ret eller fjern linket",  # phrase
    "answer-too-slow": "svarede ikke i tide – tjek adressen",  # phrase
    "cannot-be-reached": "kan ikke nås ({error}) – tjek adressen",  # phrase
    "name-not-found": "peger på {host}, som ikke kan findes – tjek adressen (eller om maskinen er på "
    "internettet)",
    "connection-refused": "ligger på {host}, som afviste forbindelsen – tjek adressen, eller prøv igen senere",
    "template-error": "Skabelonen har en fejl, som den, der vedligeholder skabelonerne, skal rette: {problem}",
    "list-id-missing": "E-mailen mangler List-Id-linjen (RFC 2919), som mailprogrammer kender og sorterer "
    "nyhedsbrevet på – tjek [defaults] list og [site] base_url i indstillingerne",
    "list-id-invalid": "List-Id-linjen {value!r} har ikke formen 'Titel <liste.domæne>' (RFC 2919) – "
    "tjek [defaults] list og værtsnavnet i [site] base_url",
    "spam-score": "SpamAssassin giver e-mailen {score}. Spamfiltre tæller hvert point – docs/checks.md "
    "forklarer hver regel, og hvordan man undgår den",
    "spam-score-unknown": "Spamscoren blev ikke tjekket: {problem}",
    # --- An issue file's problems (newsletter.issue, newsletter.markdown, newsletter.render) -------------
    "issue-not-found": "Der er ingen nyhedsbrevsfil med det navn i {folder} – {hint}",
    "issue-not-found-known": "de nyeste er: {issues}",  # phrase
    "issue-not-found-none": "der er ingen nyhedsbreve endnu",  # phrase
    "issue-file-name": "Filnavnet skal have formen ÅÅÅÅ-MM-DD-navn.md – omdøb filen til {name} (navnet "
    "efter datoen bliver nyhedsbrevets webadresse)",
    "issue-file-link": "Filen er en genvej (et symbolsk link) – læg selve nyhedsbrevsfilen i issues/, ikke "
    "en genvej til den",
    "issue-file-missing": "Filen findes ikke",
    "issue-file-unreadable": "Filen kan ikke læses: {error}",
    "issue-not-utf8": "Filen er ikke gemt som UTF-8-tekst – gem den som UTF-8",
    "control-character": "Et usynligt kontroltegn (U+{code:04X}) står ved tegn nummer {column} på linjen – "
    "slet det (det kommer tit med, når man kopierer tekst fra et tekstbehandlingsprogram)",
    "issue-without-text": "Nyhedsbrevet har ingen tekst – skriv den under linjen '---', der afslutter "
    "felterne øverst",
    "front-matter-missing": "Felterne øverst mangler – start teksten med en linje '---', så 'subject: …' og "
    "så en linje '---'",
    "front-matter-not-closed": "Felterne øverst bliver aldrig afsluttet – tilføj en linje '---' efter det "
    "sidste felt",
    "front-matter-yaml": "Felterne øverst kan ikke læses ({problem}) – {fix}",
    "yaml-problem": "fejl i linjens opbygning",  # phrase (in place of YAML's own English)
    "yaml-not-closed": "et anførselstegn eller en parentes, der åbnes her, bliver aldrig lukket",  # phrase
    "yaml-fix-lines": "skriv 'felt: værdi', ét felt pr. linje",  # phrase
    "yaml-fix-quotes": "en værdi med ': ' skal stå i anførselstegn, fx subject: \"Nyt: fra kommunen\"",
    "front-matter-unreadable": "Felterne øverst kan ikke læses – skriv 'felt: værdi', ét felt pr. linje",
    "front-matter-not-fields": "Felterne øverst skal være linjer med 'felt: værdi', fx 'subject: Nyt fra "
    "kommunen'",
    "field-control-character": "{field}: indeholder et usynligt kontroltegn – skriv værdien igen",
    "lang-unsupported": "lang: '{lang}' kan ikke bruges – brug en af: {languages}",
    "template-name-invalid": "template: '{template}' er ikke navnet på en skabelon – brug fx 'newsletter' "
    "eller 'holiday'",
    "salutation-not-boolean": "salutation: '{value}' skal være true (med »Kære <navn>«) eller false (uden)",
    "field-missing": "'{field}' mangler øverst i teksten – tilføj '{field}: …' mellem linjerne '---'",
    "field-not-one-line": "{field}: skal være én linje tekst",
    "field-not-header-text": "{field}: {problem} – skriv feltet som én linje almindelig tekst (uden \\n, "
    "\\r eller \\t og uden '|')",
    "date-invalid": "date: '{value}' er ikke en dato – skriv den som ÅÅÅÅ-MM-DD, fx 2019-12-20",
    "image-address-invalid": "Billedet '{src}' skal være en https://-adresse eller en fil, der er tilføjet "
    "med knappen »Billede«",
    "image-file-missing": "Billedfilen '{src}' findes ikke – tilføj billedet med knappen »Billede«, eller "
    "ret filnavnet",
    "image-file-unusable": "Billedet '{src}' kan ikke bruges: {problem}",
    "block-closes-nothing": "':::' lukker ikke noget – fjern linjen, eller åbn først en blok, fx '::: button'",
    "block-unknown": "Blokken '::: {name}' findes ikke – brug en af: {blocks}",
    "block-inside-block": "'::: {name}' står inde i '::: {outer}' (åbnet på linje {opened}) – luk den "
    "første blok med en linje ':::', før du åbner en ny",
    "block-not-closed": "'::: {name}' bliver aldrig lukket – tilføj en linje ':::' efter blokken",
    "address-refused": "Adressen '{address}' kan ikke bruges i en e-mail – links skal begynde med https://, "
    "http://, mailto: eller tel:",
    "heading-for-title": "Overskrifter med '# ' er til titlen ('title' eller 'subject' øverst) – brug '## ' "
    "til et afsnit",
    "image-without-alt": "Billedet '{src}' har ingen alternativ tekst – skriv, hvad det viser: "
    "![Borgmesteren på besøg]({src})",
    "link-not-absolute": "Linket '{href}' er ikke en fuld adresse – skriv https://… eller mailto:…",
    "greeting-empty": "'::: greeting' er tom – skriv hilsenen mellem linjerne ':::'",
    "signature-empty": "'::: signature' er tom – skriv underskriften, én linje ad gangen",
    "button-needs-one-link": "'::: button' skal indeholde præcis ét link, fx [Læs mere](https://example.dk/side)",
    "button-link-without-text": "Knappens link har ingen tekst – skriv fx [Læs mere](https://…)",
    "columns-count": "Kolonner skal være 2 til {most} '::: column'-blokke lige efter hinanden – her er der "
    "{count}",
    "column-section-heading": "En kolonne kan ikke starte et afsnit – brug '### ' inde i en kolonne",
    "column-empty": "'::: column' er tom – skriv kolonnens tekst før ':::'",
    "template-unknown": "template: {problem}",
    "template-not-found": "skabelonen '{name}' findes ikke – brug en af: {templates}",  # phrase
    "templates-not-installed": "skabelonen '{name}' findes ikke, og der er slet ingen skabeloner – bed en "
    "administrator om at installere programmet igen",  # phrase
    # --- Why an image file cannot be published (newsletter.assets): phrases after the file's name ------
    "image-in-subfolder": "læg billedet direkte i mappen issues/{slug}/ (ikke i en undermappe), og skriv "
    "dets navn",
    "image-name-invalid": "filnavnet må kun have bogstaverne a-z, tal, '-', '_' og '.' og må ikke begynde "
    "med '.' – omdøb filen, fx moede-2020.png",
    "image-svg": "SVG-billeder vises ikke i Gmail og Outlook – gem billedet som PNG",
    "image-type-unsupported": "kun billeder af typen {types} kan sendes – gem det som PNG eller JPG",
    "image-not-publishable": "har et filnavn, der ikke kan offentliggøres – brug en .png- eller .jpg-fil",
    "image-not-found": "findes ikke",
    "image-folder-unusable": "mappen {folder}/ {problem}",
    "folder-is-link": "er en genvej (et symbolsk link) – gør den til en rigtig mappe med billederne",
    "folder-is-link-to": "er en genvej (et symbolsk link) til {target} – gør den til en rigtig mappe med "
    "billederne",
    "folder-cannot-open": "kan ikke åbnes",
    "folder-cannot-open-because": "kan ikke åbnes: {error}",
    "file-is-link": "er en genvej (et symbolsk link) – læg selve filen her i stedet",
    "file-is-link-to": "er en genvej (et symbolsk link) til {target} – læg selve filen her i stedet",
    "file-is-hard-link": "er et ekstra navn for en anden fil (et hard link) – læg en kopi af filen her i stedet",
    "file-not-regular": "er ikke en almindelig fil",
    "file-unreadable": "kan ikke læses: {error}",
    "file-changed": "blev ændret, mens den blev læst – prøv igen",
    "image-content-wrong": "er ikke et {kind}-billede (indholdet er noget andet) – gem det igen fra et "
    "billedprogram",
    # --- Characters that cannot be stored or sent (newsletter.safe_text): phrases ---------------------
    "unsafe-character": "indeholder {character} (U+{code:04X}) ved tegn nummer {position}",
    "character-line-break": "et linjeskift",
    "character-carriage-return": "et linjeskift (CR)",
    "character-tab": "en tabulator",
    "character-nul": "et NUL-tegn",
    "character-escape": "et escape-tegn",
    "character-next-line": "et linjeskift (NEL)",
    "character-line-separator": "et linjeskilletegn",
    "character-paragraph-separator": "et afsnitsskilletegn",
    "character-control": "et usynligt kontroltegn",
    # --- Import rows left out (newsletter.store.csv_reader, .addresses): after "Linje 3:" -------------
    "value-beyond-header": "har en værdi i kolonne {column}, men overskriftsrækken har ingen kolonne dér "
    "– giv kolonne {column} en overskrift i række {header_line}, eller slet værdien",
    "row-not-csv": "kan ikke læses som CSV ({problem}) – ret linjen i filen, og importér igen",
    "row-too-many-fields": "har {fields} felter, men overskriftsrækken har {width} – tjek skilletegnene",
    "quote-not-closed": 'et anførselstegn (") begynder en værdi på denne linje uden at slutte den, så '
    "linje {first}–{last} blev læst ind i værdien – fjern anførselstegnet, eller tilføj det, der slutter "
    "værdien, og importér igen. Rækken er sprunget over; linjerne efter den læses hver for sig",
    "row-not-utf8": "indeholder byten 0x{byte:02x}, som ikke er UTF-8 som resten af filen – skriv linjens "
    "særlige bogstaver (æ, ø, å …) igen, eller gem arket som 'CSV UTF-8', og importér igen",
    "email-missing": "e-mailadressen mangler",
    "address-empty": "e-mailadressen er tom",
    "address-invalid": "{address!r} er ikke en gyldig e-mailadresse – ret den i filen",
    "language-unknown": "sproget {language!r} kan ikke bruges – skriv et af: {languages}",
    "name-too-long": "navnet er længere end {most} tegn – gør det kortere",
    "name-unsafe": "navnet {problem} – slet tegnet (det er tit usynligt), og importér igen",
    "value-unsafe": "kolonnen {column!r} {problem} – slet tegnet (det er tit usynligt), og importér igen",
    "same-address": "samme adresse som række {first} ({address}) – sprunget over",
    # --- A file that cannot be imported at all (csv_reader, workbook): after "Filen kan ikke bruges …:" ---
    "file-not-found": "filen findes ikke – vælg den igen",
    "file-is-folder": "det er en mappe, ikke en CSV-fil eller en Excel-projektmappe",
    "file-cannot-be-read": "filen kan ikke læses ({error})",
    "file-not-text": "linje {line} indeholder byten 0x{byte:02x}, så filen er hverken tekst, der kan læses, "
    "eller en Excel-projektmappe – gem arket som 'CSV UTF-8' eller som .xlsx, og importér igen",
    "header-column-twice": "kolonnen {column!r} står to gange i overskriftsrækken (række {line}) – giv den "
    "ene et andet navn",
    "header-without-email": "overskriftsrækken (række {line}) har ingen kolonne med e-mailadresser (der står "
    "{found}) – kald kolonnen med adresserne 'email'",
    "header-empty": "ingenting",  # phrase
    "sheet-empty": "arket '{sheet}' er tomt – den første række skal være overskrifter med 'email'",
    "file-empty": "filen er tom – den første linje skal være overskrifter med 'email'",
    "header-not-csv": "overskriftsrækken (linje {line}) kan ikke læses som CSV ({problem})",
    "header-not-utf8": "overskriftsrækken (linje {line}) indeholder byten 0x{byte:02x}, som ikke er UTF-8 "
    "som resten af filen – gem arket som 'CSV UTF-8', og importér igen",
    "header-unsafe": "kolonnen {column!r} i overskriftsrækken (række {line}) {problem} – giv kolonnen et "
    "nyt navn",
    "workbook-old-or-locked": "det er en gammel Excel-fil (.xls) eller en projektmappe med adgangskode, som "
    "ikke kan læses – åbn den i Excel, fjern en eventuel adgangskode, gem den som .xlsx eller CSV, og "
    "importér igen",
    "workbook-damaged-after-row": "arket '{sheet}' kan ikke læses efter række {last}, så filen er "
    "beskadiget – gem den som .xlsx eller CSV, og importér igen (rækker, der allerede er importeret, tæller "
    "som uændrede)",
    "workbook-without-sheets": "projektmappen har intet ark med rækker – gem den som .xlsx eller CSV, og "
    "importér igen",
    "workbook-sheet-damaged": "arket '{sheet}' er beskadiget – gem filen som .xlsx eller CSV, og importér igen",
    "workbook-unreadable": "filen kan ikke læses ({error})",
    "workbook-incomplete": "Excel-filen er beskadiget (ikke en hel .xlsx-fil) – gem den som .xlsx eller CSV, "
    "og importér igen",
    "workbook-not-excel": "det er ikke en Excel-projektmappe, der kan læses – gem den som .xlsx eller CSV, og "
    "importér igen",
}


class _DanishNumbers(string.Formatter):
    """Formats a decimal number with a decimal comma (12,3 KB), as Danish writes it."""

    def format_field(self, value: Any, format_spec: str) -> str:
        text = super().format_field(value, format_spec)
        return text.replace(".", ",") if isinstance(value, float) else text


_DANISH = _DanishNumbers()


def danish(wording: Wording) -> str:
    """``wording`` in Danish; KeyError when a code in it (or a value its Danish names) is missing."""
    return fill(LIBRARY_DANISH[wording.code], wording.params, danish, _DANISH)


def library_text(lang: str) -> Callable[[Wording | None, str], str]:
    """``text(wording, english)``: a library message in ``lang``.

    ``english`` is the library's own sentence (a finding's ``message``, a row's ``reason``), shown
    as it is in English, and in Danish too when the message has no wording or a code without Danish.
    """

    def text(wording: Wording | None, english: str) -> str:
        if lang != "da" or wording is None:
            return english
        try:
            return danish(wording)
        except KeyError:
            return english

    return text
