"""Amazon SES as the settings know it: its access key, ``ses_region`` and ``ses_configuration_set``
(the adapter: :mod:`.ses`)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from newsletter.providers.settings import ProviderDeclaration, SecretVariable
from newsletter.settings_reader import SettingsReader

ACCESS_KEY_ID = SecretVariable(
    "NEWSLETTER_SES_ACCESS_KEY_ID", "the access key ID of an IAM user allowed ses:SendEmail"
)
SECRET_ACCESS_KEY = SecretVariable(
    "NEWSLETTER_SES_SECRET_ACCESS_KEY", "the secret access key of NEWSLETTER_SES_ACCESS_KEY_ID's IAM user"
)
# Only for temporary credentials (AWS STS, IAM Identity Center); long-term keys have none.
SESSION_TOKEN = SecretVariable(
    "NEWSLETTER_SES_SESSION_TOKEN", "the session token of temporary AWS credentials"
)

# Stockholm: the SES region nearest the first users (Denmark), in the EU like Frankfurt and Ireland.
DEFAULT_REGION = "eu-north-1"
# eu-north-1, us-gov-west-1, cn-north-1, …
_REGION = re.compile(r"[a-z]{2}(?:-[a-z]+)+-\d+")
# SES: "up to 64 characters: letters, numbers, hyphens and underscores".
_CONFIGURATION_SET = re.compile(r"[A-Za-z0-9_-]{1,64}")


@dataclass(frozen=True)
class SesOptions:
    region: str = DEFAULT_REGION  # [provider] ses_region
    configuration_set: str = ""  # [provider] ses_configuration_set: publishes events (tags included)


class SesDeclaration(ProviderDeclaration):
    name = "ses"
    label = "Amazon SES"
    # Messages handed over per ledger batch; each is its own request. Fewer than Brevo's 100:
    # a batch lost in flight makes all of its messages unknown, and SES accounts start at
    # 14 messages a second, so 50 is already several seconds of sending.
    max_batch = 50
    # Depends on ses_region: endpoint(region); a set base_url (the emulator, a VPC endpoint) wins.
    default_base_url = ""
    credential = SECRET_ACCESS_KEY
    adapter_module = "newsletter.providers.ses"

    @classmethod
    def read_options(cls, reader: SettingsReader, root: Path) -> SesOptions:
        region = reader.text("provider", "ses_region", default=DEFAULT_REGION)
        if not _REGION.fullmatch(region):
            reader.errors.append(
                f"[provider] ses_region: {region!r} is not an AWS region name — write e.g. "
                f'ses_region = "{DEFAULT_REGION}" (the region where your SES identities are verified)'
            )
            region = DEFAULT_REGION
        configuration_set = reader.text("provider", "ses_configuration_set")
        if configuration_set and not _CONFIGURATION_SET.fullmatch(configuration_set):
            reader.errors.append(
                f"[provider] ses_configuration_set: {configuration_set!r} is not a configuration set name "
                "— SES names have at most 64 letters, digits, - and _"
            )
            configuration_set = ""
        return SesOptions(region=region, configuration_set=configuration_set)


DECLARATION = SesDeclaration
