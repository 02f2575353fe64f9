"""Exit 0 when the Kafka broker at argv[1] answers a metadata request."""

import asyncio
import sys

from aiokafka.admin import AIOKafkaAdminClient


async def main(bootstrap: str) -> int:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=3000)
    try:
        await admin.start()
        await admin.describe_cluster()
    except Exception as exc:  # noqa: BLE001 - any failure means "not ready yet"
        print(f"not ready: {exc!r}", file=sys.stderr)
        return 1
    finally:
        await admin.close()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1])))
