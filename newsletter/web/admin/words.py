"""The workspace's words in Danish (the default) and English, one table for every /admin page.

Each user picks the language on their account page; the sign-in and
set-password pages follow ``?lang=`` and otherwise the site's default
language. Library refusals (a wrong password, a locked account, a password
the policy refuses, a used link) arrive with a ``reason`` code and are shown
by that code, never with the library's English sentence.
"""

from __future__ import annotations

from collections.abc import Callable

from newsletter.web.i18n import translator

ADMIN_STRINGS: dict[str, dict[str, str]] = {
    # Layout
    "workspace": {"da": "Arbejdsrum", "en": "Workspace"},
    "skip_to_content": {"da": "Gå til indholdet", "en": "Skip to content"},
    "main_navigation": {"da": "Hovedmenu", "en": "Main menu"},
    "nav_issues": {"da": "Nyhedsbreve", "en": "Issues"},
    "nav_lists": {"da": "Lister og abonnenter", "en": "Lists & subscribers"},
    "nav_users": {"da": "Brugere", "en": "Users"},
    "nav_audit": {"da": "Revisionslog", "en": "Audit log"},
    "nav_account": {"da": "Min konto", "en": "My account"},
    "log_out": {"da": "Log ud", "en": "Log out"},
    "signed_in_as": {"da": "Logget ind som {email} ({role})", "en": "Signed in as {email} ({role})"},
    "role_editor": {"da": "redaktør", "en": "editor"},
    "role_sender": {"da": "afsender", "en": "sender"},
    "role_admin": {"da": "administrator", "en": "admin"},
    "language_switch": {"da": "In English", "en": "På dansk"},
    # Sign-in
    "login_title": {"da": "Log ind", "en": "Sign in"},
    "email": {"da": "E-mailadresse", "en": "Email address"},
    "password": {"da": "Adgangskode", "en": "Password"},
    "login_button": {"da": "Log ind", "en": "Sign in"},
    "login_help": {
        "da": "Har du ikke en adgangskode endnu, eller har du glemt den? Bed en administrator om et nyt link.",
        "en": "No password yet, or forgotten it? Ask an admin for a new link.",
    },
    "login_wrong": {
        "da": "E-mailadressen eller adgangskoden er forkert. Prøv igen, eller bed en administrator om et nyt link.",
        "en": "The email address or password is wrong. Try again, or ask an admin for a new link.",
    },
    "login_locked": {
        "da": "For mange forkerte forsøg: kontoen er låst til {until} (UTC). Vent, eller bed en administrator om at låse den op.",
        "en": "Too many failed attempts: the account is locked until {until} (UTC). Wait, or ask an admin to unlock it.",
    },
    "login_disabled": {
        "da": "Kontoen er deaktiveret. Bed en administrator om at aktivere den.",
        "en": "This account is disabled. Ask an admin to enable it.",
    },
    "login_too_many": {
        "da": "For mange forsøg fra dette netværk. Vent {minutes} minutter, og prøv så igen.",
        "en": "Too many attempts from this network. Wait {minutes} minutes, then try again.",
    },
    "login_expired": {
        "da": "Det tog for lang tid. Skriv e-mailadresse og adgangskode igen.",
        "en": "That took too long. Enter your email address and password again.",
    },
    "code_title": {"da": "Kode fra din app", "en": "Code from your app"},
    "code_label": {"da": "Den 6-cifrede kode", "en": "The 6-digit code"},
    "code_help": {
        "da": "Åbn din godkendelsesapp og skriv den kode, den viser nu.",
        "en": "Open your authenticator app and type the code it shows now.",
    },
    "code_wrong": {
        "da": "Koden er forkert eller allerede brugt. Skriv de 6 cifre, appen viser nu.",
        "en": "The code is wrong or was used already. Type the 6 digits the app shows now.",
    },
    "code_button": {"da": "Bekræft", "en": "Confirm"},
    "start_over": {"da": "Start forfra", "en": "Start again"},
    "form_expired": {
        "da": "Formularen er udløbet eller blev sendt fra en anden side. Prøv igen.",
        "en": "The form expired or was sent from another page. Please try again.",
    },
    "form_unusable": {
        "da": "Formularen kunne ikke læses (kun tekst kan sendes). Udfyld den igen.",
        "en": "The form could not be read (only text can be sent). Fill it in again.",
    },
    "signed_out_title": {"da": "Du er logget ud", "en": "You are signed out"},
    "signed_out_body": {
        "da": "Din session er udløbet, eller du er logget ud. Log ind igen for at fortsætte.",
        "en": "Your session has ended, or you signed out. Sign in again to continue.",
    },
    "forbidden_title": {"da": "Ingen adgang", "en": "Not allowed"},
    "forbidden_body": {
        "da": "Din rolle ({role}) giver ikke adgang til denne side. Spørg en administrator, hvis du har brug for det.",
        "en": "Your role ({role}) does not allow this page. Ask an admin if you need it.",
    },
    "not_found_title": {"da": "Siden findes ikke", "en": "Page not found"},
    "not_found_body": {
        "da": "Der er intet på denne adresse i arbejdsrummet.",
        "en": "There is nothing at this address in the workspace.",
    },
    "back_to_issues": {"da": "Til nyhedsbrevene", "en": "Back to the issues"},
    # Set password
    "set_password_title": {"da": "Vælg din adgangskode", "en": "Choose your password"},
    "set_password_intro": {
        "da": "Adgangskoden til {email}. Brug mindst 12 tegn — et par ord, der ikke hører sammen, er både stærkt og let at huske.",
        "en": "The password for {email}. Use at least 12 characters — a few unrelated words are strong and easy to remember.",
    },
    "new_password": {"da": "Ny adgangskode", "en": "New password"},
    "repeat_password": {"da": "Gentag adgangskoden", "en": "Repeat the password"},
    "set_password_button": {"da": "Gem adgangskoden", "en": "Save the password"},
    "password_too_short": {
        "da": "Adgangskoden skal have mindst {length} tegn. Et par ord, der ikke hører sammen, er en god adgangskode.",
        "en": "The password needs at least {length} characters. A few unrelated words make a good one.",
    },
    "password_too_long": {
        "da": "Adgangskoden er for lang: højst {length} tegn.",
        "en": "The password is too long: at most {length} characters.",
    },
    "password_is_email": {
        "da": "Adgangskoden må ikke være din e-mailadresse.",
        "en": "The password must not be your email address.",
    },
    "password_mismatch": {
        "da": "De to adgangskoder er ikke ens. Skriv den samme to gange.",
        "en": "The two passwords differ. Type the same one twice.",
    },
    "password_saved": {
        "da": "Adgangskoden er gemt. Log ind med den nu.",
        "en": "Your password is saved. Sign in with it now.",
    },
    "link_unknown": {
        "da": "Linket virker ikke. Kopiér hele linket, eller bed en administrator om et nyt.",
        "en": "This link does not work. Copy the whole link, or ask an admin for a new one.",
    },
    "link_used": {
        "da": "Linket er allerede brugt. Log ind, eller bed en administrator om et nyt link.",
        "en": "This link has been used already. Sign in, or ask an admin for a new link.",
    },
    "link_expired": {
        "da": "Linket er udløbet. Bed en administrator om et nyt.",
        "en": "This link has expired. Ask an admin for a new one.",
    },
    "link_disabled": {
        "da": "Kontoen er deaktiveret. Spørg en administrator.",
        "en": "This account is disabled. Ask an admin.",
    },
    "link_problem_title": {"da": "Linket kan ikke bruges", "en": "This link cannot be used"},
    "go_to_login": {"da": "Til log ind", "en": "Go to sign-in"},
    # Issues
    "issues_title": {"da": "Nyhedsbreve", "en": "Issues"},
    "issues_intro": {
        "da": "Alle udgaver i mappen issues/, nyeste først.",
        "en": "Every issue in the issues/ folder, newest first.",
    },
    "issues_empty": {
        "da": 'Der er ingen udgaver endnu. Opret den første med: newsletter new "Titel"',
        "en": 'No issues yet. Create the first one with: newsletter new "Title"',
    },
    "col_subject": {"da": "Emne", "en": "Subject"},
    "col_date": {"da": "Dato", "en": "Date"},
    "col_language": {"da": "Sprog", "en": "Language"},
    "col_template": {"da": "Skabelon", "en": "Template"},
    "col_checks": {"da": "Tjek", "en": "Checks"},
    "col_status": {"da": "Status", "en": "Status"},
    "col_file": {"da": "Fil", "en": "File"},
    "checks_pass": {"da": "Alt i orden", "en": "All checks pass"},
    "checks_counts": {
        "da": "{errors} fejl, {warnings} advarsler",
        "en": "{errors} errors, {warnings} warnings",
    },
    "checks_broken": {"da": "Kan ikke læses: {message}", "en": "Cannot be read: {message}"},
    "status_draft": {"da": "Kladde", "en": "Draft"},
    "status_sending": {"da": "Sendes til {lists}", "en": "Sending to {lists}"},
    "status_sent": {"da": "Sendt til {lists}", "en": "Sent to {lists}"},
    "no_date": {"da": "ingen dato", "en": "no date"},
    "lang_da": {"da": "dansk", "en": "Danish"},
    "lang_en": {"da": "engelsk", "en": "English"},
    # New issue and the editor (newsletter.web.admin.editor)
    "new_issue_link": {"da": "Nyt nyhedsbrev", "en": "New issue"},
    "edit_link": {"da": "Redigér", "en": "Edit"},
    "edit_link_for": {"da": "Redigér {subject}", "en": "Edit {subject}"},
    "new_title": {"da": "Nyt nyhedsbrev", "en": "New issue"},
    "new_intro": {
        "da": "Udfyld felterne — filens forside (front matter) skrives for dig. Selve teksten skriver du på næste side.",
        "en": "Fill in the fields — the file's front matter is written for you. You write the text itself on the next page.",
    },
    "field_template": {"da": "Skabelon", "en": "Template"},
    "template_holiday": {
        "da": "Hilsen (holiday) — fx til jul og nytår",
        "en": "Greeting (holiday) — e.g. for Christmas and New Year",
    },
    "template_newsletter": {"da": "Nyhedsbrev (newsletter)", "en": "Newsletter (newsletter)"},
    "template_own": {"da": "{name} (jeres egen skabelon)", "en": "{name} (your own template)"},
    "field_subject": {"da": "Emne", "en": "Subject"},
    "field_subject_help": {
        "da": "Emnelinjen i indbakken. Filnavnet laves af datoen og emnet.",
        "en": "The subject line in the inbox. The file name is made from the date and the subject.",
    },
    "field_preheader": {"da": "Preheader (valgfri)", "en": "Preheader (optional)"},
    "field_preheader_help": {
        "da": "Den korte tekst, indbakken viser efter emnet.",
        "en": "The short text the inbox shows after the subject.",
    },
    "field_kicker": {"da": "Overlinje (valgfri)", "en": "Kicker (optional)"},
    "field_kicker_help": {
        "da": "En lille linje over titlen, fx »Jul i BusinessBallerup«.",
        "en": "A small line above the title, e.g. “Christmas at BusinessBallerup”.",
    },
    "field_language": {"da": "Nyhedsbrevets sprog", "en": "Language of the issue"},
    "field_date": {"da": "Dato", "en": "Date"},
    "field_date_help": {"da": "Nyhedsbrevets dato, ÅÅÅÅ-MM-DD.", "en": "The issue's date, YYYY-MM-DD."},
    "create_button": {"da": "Opret og skriv teksten", "en": "Create and write the text"},
    "new_subject_missing": {
        "da": "Skriv et emne i feltet Emne.",
        "en": "Write a subject in the Subject field.",
    },
    "new_subject_no_slug": {
        "da": "Emnet skal have mindst ét bogstav eller tal — filnavnet laves af det.",
        "en": "The subject needs at least one letter or digit — the file name is made from it.",
    },
    "new_not_one_line": {
        "da": "Feltet {field} skal være én linje almindelig tekst. Skriv det igen uden linjeskift.",
        "en": "The {field} field must be one line of plain text. Type it again without line breaks.",
    },
    "new_template_unknown": {"da": "Vælg en skabelon fra listen.", "en": "Choose a template from the list."},
    "new_lang_unknown": {
        "da": "Vælg dansk eller engelsk som sprog.",
        "en": "Choose Danish or English as the language.",
    },
    "new_date_invalid": {
        "da": "Skriv datoen som ÅÅÅÅ-MM-DD, fx 2021-01-04.",
        "en": "Write the date as YYYY-MM-DD, e.g. 2021-01-04.",
    },
    "new_exists": {
        "da": "Der findes allerede et nyhedsbrev med filnavnet {file}. Åbn det, eller vælg en anden dato eller et andet emne.",
        "en": "An issue with the file name {file} exists already. Open it, or choose another date or subject.",
    },
    "open_existing": {"da": "Åbn {file}", "en": "Open {file}"},
    "edit_title": {"da": "Redigér: {subject}", "en": "Edit: {subject}"},
    "edit_refused_title": {"da": "Nyhedsbrevet kan ikke åbnes", "en": "The issue cannot be opened"},
    "editor_label": {"da": "Tekst (Markdown)", "en": "Text (Markdown)"},
    "editor_help": {
        "da": "## starter et afsnit. Knapperne indsætter nyhedsbrevets elementer ved markøren. Forhåndsvisningen følger med, mens du skriver.",
        "en": "## starts a section. The buttons insert the newsletter's elements at the cursor. The preview follows as you type.",
    },
    "toolbar_label": {"da": "Indsæt", "en": "Insert"},
    "insert_section": {"da": "Afsnit", "en": "Section"},
    "insert_button": {"da": "Knap", "en": "Button"},
    "insert_columns": {"da": "Kolonner", "en": "Columns"},
    "insert_greeting": {"da": "Hilsen", "en": "Greeting"},
    "insert_signature": {"da": "Underskrift", "en": "Signature"},
    "insert_image": {"da": "Billede", "en": "Image"},
    "snippet_heading": {"da": "Overskrift", "en": "Heading"},
    "snippet_text": {"da": "Tekst i afsnittet.", "en": "Text of the section."},
    "snippet_button": {"da": "Læs mere", "en": "Read more"},
    "snippet_column_heading": {"da": "Kolonnens overskrift", "en": "Column heading"},
    "snippet_greeting": {"da": "Godt nytår!", "en": "Happy New Year!"},
    "snippet_signoff": {"da": "Med venlig hilsen", "en": "Kind regards"},
    "snippet_name": {"da": "Navn, titel", "en": "Name, title"},
    "save_button": {"da": "Gem", "en": "Save"},
    "save_anyway_button": {"da": "Gem min tekst alligevel", "en": "Save my text anyway"},
    "discard_draft_button": {"da": "Kassér kladden", "en": "Discard the draft"},
    "preview_heading": {"da": "Forhåndsvisning", "en": "Preview"},
    "preview_wide": {"da": "Computer, 600 px", "en": "Desktop, 600 px"},
    "preview_narrow": {"da": "Telefon, 375 px", "en": "Phone, 375 px"},
    "preview_frame_title": {"da": "E-mailen ved {width} px", "en": "The email at {width} px"},
    "preview_stale": {
        "da": "Teksten kan ikke vises som nyhedsbrev lige nu — ret fejlen under Tjek. Forhåndsvisningen viser den seneste udgave, der kunne.",
        "en": "The text cannot be shown as an issue right now — fix the error under Checks. The preview shows the last version that could.",
    },
    "preview_none": {
        "da": "Teksten kan ikke vises som nyhedsbrev — ret fejlen under Tjek.",
        "en": "The text cannot be shown as an issue — fix the error under Checks.",
    },
    "preview_expired": {
        "da": "Forhåndsvisningen er udløbet. Skriv videre, eller genindlæs siden.",
        "en": "This preview has expired. Type on, or reload the page.",
    },
    "inbox_heading": {"da": "I indbakken", "en": "In the inbox"},
    "inbox_subject": {"da": "Emne", "en": "Subject"},
    "inbox_preheader": {"da": "Preheader", "en": "Preheader"},
    "plain_text_heading": {"da": "Tekstdelen", "en": "Plain-text part"},
    "findings_heading": {"da": "Tjek", "en": "Checks"},
    "findings_none": {"da": "Alt i orden.", "en": "All checks pass."},
    "finding_error": {"da": "Fejl", "en": "Error"},
    "finding_warning": {"da": "Advarsel", "en": "Warning"},
    "finding_line": {"da": "linje {line}", "en": "line {line}"},
    "finding_go_to": {"da": "Gå til linje {line} i teksten", "en": "Go to line {line} in the text"},
    "notice_created": {
        "da": "Nyhedsbrevet er oprettet som {file}. Skriv teksten, og tryk Gem.",
        "en": "The issue was created as {file}. Write the text, and press Save.",
    },
    "notice_saved": {"da": "Gemt i {file}.", "en": "Saved in {file}."},
    "notice_unchanged": {"da": "Der var ingen ændringer at gemme.", "en": "There were no changes to save."},
    "notice_draft_kept": {
        "da": "Teksten kan ikke gemmes som nyhedsbrev endnu, så den er gemt som kladde. Den gemte fil er ikke ændret. Ret fejlen under Tjek, og gem igen.",
        "en": "The text cannot be saved as an issue yet, so it was kept as a draft. The saved file is unchanged. Fix the error under Checks, and save again.",
    },
    "notice_draft_open": {
        "da": "Du fortsætter en kladde, som {who} gemte {at} (UTC). Filen er ikke ændret endnu — tryk Gem, når teksten er klar.",
        "en": "You are continuing a draft {who} kept at {at} (UTC). The file is not changed yet — press Save when the text is ready.",
    },
    "notice_draft_discarded": {
        "da": "Kladden er kasseret. Du ser den gemte fil.",
        "en": "The draft was discarded. You see the saved file.",
    },
    "notice_draft_not_discarded": {
        "da": "Kladden er ændret, siden du åbnede den, og blev ikke kasseret. Her er den nye udgave.",
        "en": "The draft changed since you opened it and was not discarded. Here is the new version.",
    },
    "notice_image_added": {
        "da": "Billedet er gemt som {name}{scaled}. Sæt denne linje ind i teksten, hvor billedet skal stå: {markdown}",
        "en": "The image was saved as {name}{scaled}. Put this line in the text where the image goes: {markdown}",
    },
    "image_scaled": {
        "da": " (gjort mindre til {width} px bredde)",
        "en": " (scaled down to {width} px wide)",
    },
    "image_inserted": {
        "da": "Billedet {name} er sat ind{scaled}.",
        "en": "The image {name} was inserted{scaled}.",
    },
    "conflict_file": {
        "da": "Nyhedsbrevet er blevet gemt af en anden, siden du begyndte at skrive. Din tekst er IKKE gemt — den står stadig i feltet. Se forskellen herunder, tag deres ændringer med, og gem igen.",
        "en": "Someone else saved the issue after you started writing. Your text is NOT saved — it is still in the field. See the difference below, take their changes in, and save again.",
    },
    "conflict_draft": {
        "da": "{who} har gemt en kladde af nyhedsbrevet {at} (UTC), mens du skrev. Din tekst er IKKE gemt — den står stadig i feltet. Se forskellen herunder, tag deres ændringer med, og gem igen.",
        "en": "{who} kept a draft of the issue at {at} (UTC) while you were writing. Your text is NOT saved — it is still in the field. See the difference below, take their changes in, and save again.",
    },
    "conflict_diff": {
        "da": "Forskellen (− deres tekst, + din tekst)",
        "en": "The difference (− their text, + your text)",
    },
    "conflict_theirs": {"da": "Deres tekst", "en": "Their text"},
    "autosave_saved": {
        "da": "Kladde gemt automatisk kl. {time}.",
        "en": "Draft kept automatically at {time}.",
    },
    "autosave_conflict": {
        "da": "En anden har gemt nyhedsbrevet, mens du skrev. Din tekst er ikke gemt: tryk Gem for at se forskellen.",
        "en": "Someone else saved the issue while you were writing. Your text is not saved: press Save to see the difference.",
    },
    "autosave_failed": {
        "da": "Kladden kunne ikke gemmes automatisk. Tryk Gem.",
        "en": "The draft could not be kept automatically. Press Save.",
    },
    "error_text_too_long": {
        "da": "Teksten er for lang (over {limit} tegn) og er ikke gemt. Del nyhedsbrevet i to.",
        "en": "The text is too long (over {limit} characters) and was not saved. Split the issue in two.",
    },
    "error_not_utf8": {
        "da": "Filen {file} er ikke gemt som UTF-8 og kan ikke åbnes her. Gem den som UTF-8 i en teksteditor.",
        "en": "The file {file} is not saved as UTF-8 and cannot be opened here. Save it as UTF-8 in a text editor.",
    },
    "error_drafts_link": {
        "da": "Mappen issues/.drafts er et link. Gør den til en almindelig mappe.",
        "en": "The folder issues/.drafts is a link. Make it an ordinary folder.",
    },
    "image_heading": {"da": "Tilføj et billede", "en": "Add an image"},
    "image_file": {"da": "Billedfil", "en": "Image file"},
    "image_file_help": {
        "da": "PNG, JPG, GIF eller WebP, højst {mb} MB. Et bredt billede gøres mindre til {width} px, og oplysninger om sted og kamera fjernes.",
        "en": "PNG, JPG, GIF or WebP, at most {mb} MB. A wide image is scaled down to {width} px, and details of place and camera are removed.",
    },
    "image_alt": {"da": "Alternativ tekst", "en": "Alt text"},
    "image_alt_help": {
        "da": "Hvad billedet viser, for læsere der ikke kan se det. Skal udfyldes.",
        "en": "What the image shows, for readers who cannot see it. Required.",
    },
    "image_button": {"da": "Tilføj billedet", "en": "Add the image"},
    "image_cancel": {"da": "Annullér", "en": "Cancel"},
    "image_drop_hint": {
        "da": "Du kan også trække et billede ind i tekstfeltet.",
        "en": "You can also drag an image into the text field.",
    },
    "image_no_file": {"da": "Vælg en billedfil.", "en": "Choose an image file."},
    "image_alt_missing": {
        "da": "Skriv en alternativ tekst: hvad billedet viser. Billedet er ikke gemt.",
        "en": "Write an alt text: what the image shows. The image was not saved.",
    },
    "image_alt_too_long": {
        "da": "Den alternative tekst er for lang (højst 300 tegn).",
        "en": "The alt text is too long (at most 300 characters).",
    },
    "image_too_large": {
        "da": "Billedet er større end {mb} MB. Gem det mindre, fx som JPG, og prøv igen.",
        "en": "The image is larger than {mb} MB. Save it smaller, e.g. as JPG, and try again.",
    },
    "image_not_image": {
        "da": "Filen er ikke et PNG-, JPG-, GIF- eller WebP-billede (bedømt på indholdet, ikke navnet). Gem den som JPG eller PNG.",
        "en": "The file is not a PNG, JPG, GIF or WebP image (judged by its content, not its name). Save it as JPG or PNG.",
    },
    "image_damaged": {
        "da": "Billedfilen er beskadiget eller ufuldstændig. Gem den igen fra et billedprogram.",
        "en": "The image file is damaged or incomplete. Save it again from an image program.",
    },
    "image_too_many_pixels": {
        "da": "Billedet har for mange pixels. Gør det mindre i et billedprogram.",
        "en": "The image has too many pixels. Make it smaller in an image program.",
    },
    "image_animation_too_wide": {
        "da": "Animationen er bredere end {width} px. Gør den smallere i et billedprogram.",
        "en": "The animation is wider than {width} px. Make it narrower in an image program.",
    },
    "image_folder_link": {
        "da": "Billedmappen til nyhedsbrevet er et link. Gør den til en almindelig mappe.",
        "en": "The issue's image folder is a link. Make it an ordinary folder.",
    },
    # Lists
    "lists_title": {"da": "Lister og abonnenter", "en": "Lists & subscribers"},
    "lists_intro": {
        "da": "Listerne og hvor mange der er tilmeldt. Abonnenter håndteres indtil videre med kommandoen newsletter subscribers.",
        "en": "The lists and how many are subscribed. Subscribers are managed with the newsletter subscribers command for now.",
    },
    "lists_empty": {
        "da": 'Der er ingen lister endnu. Opret en med: newsletter lists create NAVN --title "Titel"',
        "en": 'No lists yet. Create one with: newsletter lists create NAME --title "Title"',
    },
    "col_name": {"da": "Navn", "en": "Name"},
    "col_title": {"da": "Titel", "en": "Title"},
    "col_members": {"da": "Tilmeldte", "en": "Subscribed"},
    # Users
    "users_title": {"da": "Brugere", "en": "Users"},
    "users_add_heading": {"da": "Tilføj en bruger", "en": "Add a user"},
    "name_optional": {"da": "Navn (valgfrit)", "en": "Name (optional)"},
    "role": {"da": "Rolle", "en": "Role"},
    "language": {"da": "Sprog", "en": "Language"},
    "add_button": {"da": "Tilføj og lav et link", "en": "Add and make a link"},
    "col_email": {"da": "E-mail", "en": "Email"},
    "col_role": {"da": "Rolle", "en": "Role"},
    "col_2fa": {"da": "To-faktor", "en": "Two-factor"},
    "col_last_login": {"da": "Sidst logget ind (UTC)", "en": "Last sign-in (UTC)"},
    "col_state": {"da": "Tilstand", "en": "State"},
    "col_actions": {"da": "Handlinger", "en": "Actions"},
    "on": {"da": "til", "en": "on"},
    "off": {"da": "fra", "en": "off"},
    "never": {"da": "aldrig", "en": "never"},
    "state_active": {"da": "aktiv", "en": "active"},
    "state_disabled": {"da": "deaktiveret", "en": "disabled"},
    "state_locked": {"da": "låst til {until}", "en": "locked until {until}"},
    "state_no_password": {"da": "venter på adgangskode", "en": "waiting for a password"},
    "disable": {"da": "Deaktivér", "en": "Disable"},
    "enable": {"da": "Aktivér", "en": "Enable"},
    "reset": {"da": "Nulstil adgangskode", "en": "Reset password"},
    "disable_button": {"da": "Deaktivér {email}", "en": "Disable {email}"},
    "enable_button": {"da": "Aktivér {email}", "en": "Enable {email}"},
    "reset_button": {"da": "Nulstil adgangskode for {email}", "en": "Reset password for {email}"},
    "remove_2fa_label": {"da": "Fjern også to-faktor", "en": "Also remove two-factor"},
    "role_button": {"da": "Skift rolle", "en": "Change role"},
    "role_button_for": {"da": "Skift rolle for {email}", "en": "Change role for {email}"},
    "new_role_for": {"da": "Ny rolle for {email}", "en": "New role for {email}"},
    "link_heading": {"da": "Engangslink til {email}", "en": "One-time link for {email}"},
    "link_body": {
        "da": "Send linket til personen — kun til dem. Det virker én gang, indtil {expires} (UTC), og vises kun nu.",
        "en": "Send this link to that person only. It works once, until {expires} (UTC), and is shown only now.",
    },
    "notice_added": {"da": "{email} er tilføjet.", "en": "{email} was added."},
    "notice_disabled": {
        "da": "{email} er deaktiveret og logget ud overalt.",
        "en": "{email} is disabled and signed out everywhere.",
    },
    "notice_enabled": {"da": "{email} kan logge ind igen.", "en": "{email} can sign in again."},
    "notice_reset": {
        "da": "Adgangskoden for {email} er nulstillet, og de er logget ud overalt.",
        "en": "The password of {email} was reset, and they are signed out everywhere.",
    },
    "notice_role": {"da": "{email} er nu {role}.", "en": "{email} is now {role}."},
    "error_bad_email": {
        "da": "E-mailadressen er ikke gyldig. Skriv hele adressen, fx jens@kommune.dk.",
        "en": "That email address is not valid. Type the whole address, e.g. jens@kommune.dk.",
    },
    "error_bad_name": {
        "da": "Navnet skal være almindelig tekst på én linje (højst 200 tegn).",
        "en": "The name must be plain text on one line (at most 200 characters).",
    },
    "error_bad_role": {"da": "Vælg en rolle fra listen.", "en": "Choose a role from the list."},
    "error_bad_language": {"da": "Vælg dansk eller engelsk.", "en": "Choose Danish or English."},
    "error_exists": {
        "da": "{email} er allerede bruger. Nulstil deres adgangskode for at lave et nyt link.",
        "en": "{email} is a user already. Reset their password to make a new link.",
    },
    "error_last_admin": {
        "da": "{email} er den eneste aktive administrator. Tilføj en anden administrator først.",
        "en": "{email} is the only enabled admin. Add another admin first.",
    },
    "error_no_user": {"da": "Brugeren findes ikke.", "en": "That user does not exist."},
    # Audit
    "audit_title": {"da": "Log over handlinger", "en": "Audit log"},
    "audit_intro": {
        "da": "Hvem gjorde hvad, hvornår og hvorfra — nyeste først. Loggen kan ikke ændres.",
        "en": "Who did what, when and from where — newest first. The log cannot be changed.",
    },
    "filter_heading": {"da": "Filtrér", "en": "Filter"},
    "filter_user": {"da": "Bruger", "en": "User"},
    "filter_action": {"da": "Handling", "en": "Action"},
    "filter_all": {"da": "Alle", "en": "All"},
    "filter_button": {"da": "Vis", "en": "Show"},
    "col_when": {"da": "Tidspunkt (UTC)", "en": "When (UTC)"},
    "col_actor": {"da": "Hvem", "en": "Who"},
    "col_action": {"da": "Handling", "en": "Action"},
    "col_subject_audit": {"da": "Hvad", "en": "On what"},
    "col_detail": {"da": "Detaljer", "en": "Details"},
    "col_ip": {"da": "IP-adresse", "en": "IP address"},
    "audit_empty": {"da": "Ingen poster.", "en": "No entries."},
    "older": {"da": "Ældre poster", "en": "Older entries"},
    "newest": {"da": "Nyeste poster", "en": "Newest entries"},
    "export_heading": {"da": "Eksportér", "en": "Export"},
    "export_button": {"da": "Hent hele loggen som CSV", "en": "Download the whole log as CSV"},
    "export_excel": {
        "da": "Til dansk Excel (semikolon, UTF-8 med BOM)",
        "en": "For Danish Excel (semicolons, UTF-8 with BOM)",
    },
    "audit_results": {"da": "Poster", "en": "Entries"},
    # Account
    "account_title": {"da": "Min konto", "en": "My account"},
    "language_heading": {"da": "Sprog i arbejdsrummet", "en": "Workspace language"},
    "save": {"da": "Gem", "en": "Save"},
    "language_saved": {"da": "Sproget er gemt.", "en": "The language is saved."},
    "totp_heading": {"da": "To-faktor-login", "en": "Two-factor sign-in"},
    "totp_on": {
        "da": "To-faktor-login er slået til: du skal skrive en kode fra din app, når du logger ind.",
        "en": "Two-factor sign-in is on: you type a code from your app when you sign in.",
    },
    "totp_off": {
        "da": "To-faktor-login er slået fra. Slå det til for at beskytte kontoen, selv hvis adgangskoden slipper ud.",
        "en": "Two-factor sign-in is off. Turn it on to protect the account even if the password leaks.",
    },
    "totp_start": {"da": "Slå to-faktor-login til", "en": "Turn on two-factor sign-in"},
    "totp_scan": {
        "da": "Scan QR-koden med din godkendelsesapp (fx Microsoft Authenticator), eller skriv nøglen ind. Skriv derefter den kode, appen viser.",
        "en": "Scan the QR code with your authenticator app (e.g. Microsoft Authenticator), or type in the key. Then type the code the app shows.",
    },
    "totp_qr_label": {"da": "QR-kode til din godkendelsesapp", "en": "QR code for your authenticator app"},
    "totp_key": {"da": "Nøgle", "en": "Key"},
    "totp_uri": {"da": "Link til appen", "en": "Link for the app"},
    "totp_confirm": {"da": "Slå til", "en": "Turn on"},
    "totp_enabled": {"da": "To-faktor-login er slået til.", "en": "Two-factor sign-in is on."},
    "totp_remove": {"da": "Slå to-faktor-login fra", "en": "Turn off two-factor sign-in"},
    "totp_remove_help": {
        "da": "Skriv en kode fra appen for at bekræfte.",
        "en": "Type a code from the app to confirm.",
    },
    "totp_removed": {"da": "To-faktor-login er slået fra.", "en": "Two-factor sign-in is off."},
    "totp_unreadable": {
        "da": "Din to-faktor-nøgle kan ikke læses. Bed en administrator om at nulstille den.",
        "en": "Your two-factor key cannot be read. Ask an admin to reset it.",
    },
    "sessions_heading": {"da": "Log ud overalt", "en": "Sign out everywhere"},
    "sessions_body": {
        "da": "Du er logget ind {count} steder. Log ud overalt, hvis du har glemt at logge ud på en anden computer.",
        "en": "You are signed in in {count} places. Sign out everywhere if you forgot to sign out on another computer.",
    },
    "log_out_everywhere": {"da": "Log ud overalt", "en": "Sign out everywhere"},
    # Test and send
    "test_and_send": {"da": "Test og send", "en": "Test and send"},
    "send_page_title": {"da": "Test og send: {subject}", "en": "Test and send: {subject}"},
    "checks_heading": {"da": "Tjek", "en": "Checks"},
    "checks_block": {
        "da": "Fejlene skal rettes, før udgaven kan sendes til en liste. En test kan sendes alligevel.",
        "en": "Fix the errors before the issue can be sent to a list. A test can be sent anyway.",
    },
    "severity_error": {"da": "Fejl", "en": "Error"},
    "severity_warning": {"da": "Advarsel", "en": "Warning"},
    "severity_info": {"da": "Bemærk", "en": "Note"},
    "test_heading": {"da": "Send en test", "en": "Send a test"},
    "test_intro": {
        "da": "En test går gennem {provider} med [TEST] foran emnet. Den skrives ikke i loggen over forsendelser, og ingen på listerne får den.",
        "en": "A test goes through {provider} with [TEST] before the subject. It is not recorded in the send ledger, and nobody on the lists gets it.",
    },
    "test_to_me": {"da": "Send en test til mig ({email})", "en": "Send a test to me ({email})"},
    "test_to_group": {
        "da": "Send en test til testgruppen ({count} adresser)",
        "en": "Send a test to the test group ({count} addresses)",
    },
    "test_group_members": {"da": "Testgruppen: {addresses}", "en": "The test group: {addresses}"},
    "test_no_group": {
        "da": "Der er ingen testgruppe. En administrator kan skrive adresserne i newsletter.toml under [admin] test_group.",
        "en": "There is no test group. An admin can list its addresses in newsletter.toml under [admin] test_group.",
    },
    "test_sent": {
        "da": "Testen er sendt med emnet: {subject}",
        "en": "The test was sent with the subject: {subject}",
    },
    "test_accepted": {"da": "{address}: modtaget af udbyderen", "en": "{address}: accepted by the provider"},
    "test_refused": {"da": "{address}: ikke modtaget ({reason})", "en": "{address}: not accepted ({reason})"},
    "test_failed": {"da": "Testen kunne ikke sendes: {error}", "en": "The test could not be sent: {error}"},
    "test_broken": {
        "da": "Udgaven kan ikke bygges, så der kan ikke sendes en test. Ret fejlen under Tjek først.",
        "en": "The issue cannot be built, so no test can be sent. Fix the error under Checks first.",
    },
    "send_heading": {"da": "Send til en liste", "en": "Send to a list"},
    "send_not_allowed": {
        "da": "Som {role} kan du sende tests, men ikke sende til en liste. Det kan en afsender eller en administrator.",
        "en": "As {role} you can send tests, but not send to a list. A sender or an admin can.",
    },
    "choose_list": {"da": "Liste", "en": "List"},
    "choose_list_none": {"da": "Vælg en liste", "en": "Choose a list"},
    "show_list": {"da": "Vis", "en": "Show"},
    "choose_list_hint": {
        "da": "Vælg listen for at se modtagere, udbyder og hvor lang tid det tager.",
        "en": "Choose the list to see the audience, the provider and how long it takes.",
    },
    "audience": {"da": "Modtagere", "en": "Audience"},
    "audience_value": {"da": "{count} tilmeldte på {list}", "en": "{count} subscribed on {list}"},
    "audience_planned": {
        "da": "{count} af dem har allerede udgaven i loggen og får den ikke igen.",
        "en": "{count} of them have this issue in the ledger already and do not get it again.",
    },
    "provider": {"da": "Udbyder", "en": "Provider"},
    # The providers whose registry label is a description, not a name (sending.provider_label).
    "provider_outbox": {"da": "outbox-mappen", "en": "the outbox folder"},
    "provider_smtp": {"da": "jeres egen SMTP-server", "en": "your SMTP relay"},
    "to_send": {"da": "Sendes nu", "en": "To send now"},
    "to_send_value": {"da": "{count} e-mails", "en": "{count} emails"},
    "estimate": {"da": "Tidsforbrug", "en": "Estimate"},
    "estimate_value": {"da": "ca. {duration}", "en": "about {duration}"},
    "unit_s": {"da": "{number} sek.", "en": "{number} s"},
    "unit_min": {"da": "{number} min.", "en": "{number} min"},
    "unit_h": {"da": "{number} timer", "en": "{number} h"},
    "nothing_to_send": {
        "da": "Ingen på listen venter på denne udgave.",
        "en": "Nobody on the list is waiting for this issue.",
    },
    "confirm_label": {
        "da": "Skriv listens navn, {list}, for at bekræfte",
        "en": "Type the list's name, {list}, to confirm",
    },
    "send_button": {"da": "Send til {count} på {list}", "en": "Send to {count} on {list}"},
    "send_blocked_checks": {
        "da": "Kan ikke sendes: tjekket fandt {errors} fejl. Ret dem først, som når man sender fra en terminal.",
        "en": "Cannot be sent: the checks found {errors} errors. Fix them first, as when sending from a terminal.",
    },
    "send_running_here": {
        "da": "Udgaven er ved at blive sendt til {list}.",
        "en": "The issue is being sent to {list}.",
    },
    "error_choose_list": {"da": "Vælg en liste fra listen.", "en": "Choose a list from the list."},
    "error_confirm": {
        "da": "Skriv listens navn præcis, som det står: {list}. Intet er sendt.",
        "en": "Type the list's name exactly as shown: {list}. Nothing was sent.",
    },
    "error_busy": {
        "da": "{issue} er ved at blive sendt allerede (herfra eller fra en terminal). Vent, til det er færdigt, og prøv så igen.",
        "en": "{issue} is being sent already (from here or from a terminal). Wait for it to finish, then try again.",
    },
    "error_start": {
        "da": "Forsendelsen kunne ikke starte: {error}",
        "en": "The send could not start: {error}",
    },
    "error_broken": {
        "da": "Udgaven kan ikke bygges. Ret fejlen under Tjek først.",
        "en": "The issue cannot be built. Fix the error under Checks first.",
    },
    "error_nothing_ticked": {
        "da": "Der venter ingen. Sæt flueben ved det, der skal sendes igen.",
        "en": "Nobody is waiting. Tick what to send again.",
    },
    "sends_heading": {"da": "Forsendelser af denne udgave", "en": "Sends of this issue"},
    "send_status_planned": {"da": "planlagt", "en": "planned"},
    "send_status_sending": {"da": "sendes", "en": "sending"},
    "send_status_done": {"da": "færdig", "en": "done"},
    "see_progress": {"da": "Se forløbet for {list}", "en": "See the progress for {list}"},
    # The progress of a send
    "progress_title": {"da": "{subject} → {list}", "en": "{subject} → {list}"},
    "back_to_send": {"da": "Tilbage til Test og send", "en": "Back to Test and send"},
    "run_starting": {"da": "Gør klar", "en": "Getting ready"},
    "run_running": {"da": "Sender nu", "en": "Sending now"},
    "run_stopping": {
        "da": "Stopper, når de e-mails, der er på vej, er registreret",
        "en": "Stopping once the emails in flight are recorded",
    },
    "run_elsewhere": {
        "da": "Udgaven sendes fra et andet sted (en terminal eller en anden serverproces)",
        "en": "The issue is being sent from elsewhere (a terminal or another server process)",
    },
    "run_paused": {"da": "Kører ikke – {count} venter stadig", "en": "Not running – {count} still waiting"},
    "run_done": {"da": "Færdig", "en": "Done"},
    "run_started_by": {"da": "Startet af {who} {at} (UTC).", "en": "Started by {who} at {at} (UTC)."},
    "run_finished_at": {"da": "Færdig {at} (UTC).", "en": "Finished at {at} (UTC)."},
    "run_error": {"da": "Forsendelsen stoppede: {error}", "en": "The send stopped: {error}"},
    "in_archive": {
        "da": "Nyhedsbrevet ligger nu i det offentlige arkiv, hvor alle kan læse det:",
        "en": "The issue is now in the public archive, where anyone can read it:",
    },
    "archive_link": {"da": "Se nyhedsbrevet i arkivet", "en": "See the issue in the archive"},
    "progress_label": {"da": "{settled} af {total} er behandlet", "en": "{settled} of {total} handled"},
    "counts_caption": {"da": "E-mails efter tilstand", "en": "Emails by state"},
    "ledger_queued": {"da": "I kø", "en": "Queued"},
    "ledger_sending": {"da": "På vej", "en": "In flight"},
    "ledger_sent": {"da": "Sendt", "en": "Sent"},
    "ledger_failed": {"da": "Fejlet", "en": "Failed"},
    "ledger_skipped": {"da": "Sprunget over", "en": "Skipped"},
    "ledger_unknown": {"da": "Ukendt", "en": "Unknown"},
    "ledger_total": {"da": "I alt", "en": "Total"},
    "rate": {"da": "Hastighed", "en": "Rate"},
    "rate_value": {"da": "{rate} e-mails i sekundet", "en": "{rate} emails a second"},
    "rate_none": {"da": "ingen lige nu", "en": "none just now"},
    "time_left": {"da": "Tid tilbage", "en": "Time left"},
    "time_left_unknown": {"da": "ukendt, indtil der sendes igen", "en": "unknown until sending moves again"},
    "waiting_retry": {
        "da": "{count} venter på et nyt forsøg indtil {until} (UTC), som udbyderen bad om.",
        "en": "{count} wait for a retry until {until} (UTC), as the provider asked.",
    },
    "reload": {"da": "Opdatér", "en": "Reload"},
    "reload_hint": {
        "da": "Tallene opdateres af sig selv hvert andet sekund. Uden JavaScript: tryk Opdatér.",
        "en": "The numbers update themselves every two seconds. Without JavaScript: press Reload.",
    },
    "stop_button": {"da": "Stop forsendelsen", "en": "Stop the send"},
    "stop_hint": {
        "da": "De e-mails, der er på vej, bliver registreret; resten venter i køen, til du fortsætter.",
        "en": "The emails in flight are recorded; the rest wait in the queue until you continue.",
    },
    "continue_heading": {"da": "Fortsæt forsendelsen", "en": "Continue the send"},
    "continue_body": {
        "da": "Forsendelsen kører ikke, men {count} venter stadig – den blev stoppet, eller serveren blev genstartet. Ingen får udgaven to gange: det, der var på vej, afklares først.",
        "en": "The send is not running, but {count} are still waiting – it was stopped, or the server restarted. Nobody gets the issue twice: whatever was in flight is settled first.",
    },
    "repair_heading": {"da": "Send igen til dem, det gik galt for", "en": "Send again where it went wrong"},
    "continue_button": {"da": "Fortsæt", "en": "Continue"},
    "repair_button": {"da": "Send igen", "en": "Send again"},
    "retry_failed_label": {"da": "Prøv de {count} fejlede igen", "en": "Try the {count} failed ones again"},
    "resend_unknown_label": {
        "da": "Send de {count} ukendte igen (nogle kan få udgaven to gange)",
        "en": "Send the {count} unknown ones again (some may get the issue twice)",
    },
    "in_a_terminal": {"da": "Det samme i en terminal:", "en": "The same in a terminal:"},
    "failed_heading": {"da": "Fejlede", "en": "Failed"},
    "unknown_heading": {
        "da": "Ukendt – måske leveret, måske ikke",
        "en": "Unknown – may or may not have been delivered",
    },
    "unknown_explain": {
        "da": "Udbyderen gav intet klart svar om disse. De sendes ikke igen, medmindre du beder om det – og så kan nogle få udgaven to gange.",
        "en": "The provider gave no clear answer about these. They are not sent again unless you ask – and then some may get the issue twice.",
    },
    "problem_row": {
        "da": "{email}: {error} (forsøg: {attempts})",
        "en": "{email}: {error} (attempts: {attempts})",
    },
    "problems_more": {
        "da": "… og {count} mere. Kommandoen newsletter status {issue} --json viser dem alle.",
        "en": "… and {count} more. The command newsletter status {issue} --json lists them all.",
    },
    # The four-eyes rule
    "approval_heading": {"da": "Godkendelse (fire øjne)", "en": "Approval (four eyes)"},
    "approval_rule": {
        "da": "En forsendelse til en liste skal godkendes af en anden afsender. Bagefter kan den, der bad om det, eller den, der godkendte, starte den.",
        "en": "A send to a list must be approved by another sender. Then the one who asked or the one who approved can start it.",
    },
    "approval_ask_button": {
        "da": "Bed om godkendelse til {list}",
        "en": "Ask for approval to send to {list}",
    },
    "approval_waiting": {
        "da": "{who} bad om godkendelse {at} (UTC). Nu skal en anden afsender godkende.",
        "en": "{who} asked for approval at {at} (UTC). Another sender must approve now.",
    },
    "approval_asked_by": {
        "da": "{who} har bedt om at sende til {list} ({at} UTC). Se udgaven, tjekket og tallene igennem, og godkend.",
        "en": "{who} asked to send to {list} ({at} UTC). Look through the issue, the checks and the numbers, then approve.",
    },
    "approval_approve_button": {"da": "Godkend forsendelsen til {list}", "en": "Approve the send to {list}"},
    "approval_given": {"da": "Godkendt af {who} {at} (UTC).", "en": "Approved by {who} at {at} (UTC)."},
    "approval_others": {
        "da": "Forsendelsen er godkendt. Kun {requester} eller {approver} kan starte den.",
        "en": "The send is approved. Only {requester} or {approver} can start it.",
    },
    "approval_changed": {
        "da": "Udgaven er ændret, siden der blev bedt om godkendelse. Bed om godkendelse af den nye udgave.",
        "en": "The issue has changed since approval was asked for. Ask for approval of this version.",
    },
    "approval_not-requested": {
        "da": "En forsendelse til {list} skal først godkendes af en anden afsender. Bed om godkendelse.",
        "en": "A send to {list} must be approved by another sender first. Ask for approval.",
    },
    "approval_pending": {
        "da": "Forsendelsen til {list} venter på en anden afsenders godkendelse.",
        "en": "The send to {list} waits for another sender's approval.",
    },
    "approval_own-request": {
        "da": "Du kan ikke godkende din egen forsendelse. En anden afsender skal godkende den.",
        "en": "You cannot approve your own send. Another sender must approve it.",
    },
    "approval_approved": {
        "da": "Forsendelsen til {list} er allerede godkendt.",
        "en": "The send to {list} is approved already.",
    },
    "approval_not-involved": {
        "da": "Kun den, der bad om godkendelse, eller den, der godkendte, kan starte forsendelsen til {list}.",
        "en": "Only the one who asked for approval or the one who approved can start the send to {list}.",
    },
}


def admin_translator(lang: str) -> Callable[..., str]:
    """``t(key, **values)`` for the workspace's words in ``lang``."""
    return translator(lang, ADMIN_STRINGS)
