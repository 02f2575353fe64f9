"""Exit 0 when the Kafka broker at argv[1] answers a metadata request.

An optional argv[2] names a file of PULSE_KAFKA_* settings (the secure broker's
client.env): the request is then made over SASL_SSL with those credentials.
"""

import asyncio
import sys
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.helpers import create_ssl_context


def secure_kwargs(path: str) -> dict[str, Any]:
    values = {}
    with open(path, encoding="utf-8") as lines:
        for line in lines:
            name, sep, value = line.strip().partition("=")
            if sep:
                values[name] = value
    return {
        "security_protocol": values["PULSE_KAFKA_SECURITY_PROTOCOL"],
        "sasl_mechanism": values["PULSE_KAFKA_SASL_MECHANISM"],
        "sasl_plain_username": values["PULSE_KAFKA_SASL_USERNAME"],
        "sasl_plain_password": values["PULSE_KAFKA_SASL_PASSWORD"],
        "ssl_context": create_ssl_context(cafile=values["PULSE_KAFKA_SSL_CAFILE"]),
    }


async def main(bootstrap: str, settings_file: str | None) -> int:
    extra = secure_kwargs(settings_file) if settings_file else {}
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=3000, **extra)
    try:
        await admin.start()
        await admin.describe_cluster()
    except Exception as exc:  # noqa: BLE001 - any failure means "not ready yet"
        print(f"not ready: {type(exc).__name__}", file=sys.stderr)
        return 1
    finally:
        await admin.close()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else None)))
