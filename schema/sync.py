"""The `syncConnection` mutation's payload."""

from __future__ import annotations

import strawberry

from providers.errors import ErrorCode
from resolvers.sync import SyncReport
from schema.enums import error_code


@strawberry.type(description="What `syncConnection` did for one Kombo connection.")
class SyncConnectionPayload:
    connection_id: strawberry.ID = strawberry.field(description="The connection that was synced.")
    pages_read: int = strawberry.field(description="Pages of Kombo orders read by this call.")
    orders_seen: int = strawberry.field(description="Orders read and recorded by this call.")
    finished: bool = strawberry.field(
        description="True when the sync read to the last page; false when it stopped on an error or did not run."
    )
    resumed: bool = strawberry.field(description="True when this call continued a run that had stopped half way.")
    already_running: bool = strawberry.field(
        description="True when another sync of this connection was running, so this call did nothing."
    )
    error_code: ErrorCode | None = strawberry.field(
        description="The error code that stopped the sync (e.g. PROVIDER_RATE_LIMITED); what was read is "
        "kept and the next sync resumes where this one stopped. Null when nothing went wrong."
    )

    @classmethod
    def from_domain(cls, report: SyncReport) -> SyncConnectionPayload:
        return cls(
            connection_id=strawberry.ID(report.connection_id), pages_read=report.pages_read,
            orders_seen=report.orders_seen, finished=report.finished, resumed=report.resumed,
            already_running=report.already_running, error_code=error_code(report.error_code),
        )  # fmt: skip
