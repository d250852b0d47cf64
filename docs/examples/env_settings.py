"""Your own settings, read the library's way: fv.EnvSettings (pydantic-settings)."""

from pydantic import Field

import firestore_verify as fv


# --8<-- [start:settings]
class MyBotSettings(fv.EnvSettings):
    """Each field is the variable ``MYBOT_<NAME>``."""

    model_config = fv.EnvSettings.config(env_prefix="MYBOT_")

    port: int = Field(default=8080, ge=1, le=65535)
    """Port the webhook listens on."""
    greeting: str = "Welcome!"
    """Sent to each new member."""
    strict: bool = False
    """Mute users until they join, instead of warning them."""


async def main(store: fv.Store) -> None:
    settings = MyBotSettings.from_env({"MYBOT_PORT": "8443", "MYBOT_STRICT": "yes"})
    print(settings.port, settings.greeting, settings.strict)
    try:
        MyBotSettings.from_env({"MYBOT_PORT": "http", "MYBOT_STRICT": "maybe"})
    except fv.ConfigurationError as exc:
        for problem in exc.problems:
            print(problem)
# --8<-- [end:settings]
