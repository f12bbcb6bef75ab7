"""Typed failures of a recorder conversation. Callers branch on the class, never on the text.

Two kinds, under one root, because they call for opposite answers:
  - LinkError: the link itself failed (silence, garbage, a vanished port, another protocol).
    Nothing the recorder says can be trusted any more; the conversation is over.
  - the recorder answered, clearly, "no" (Refused), or proved nothing (AuthenticationFailed),
    or claimed more than the dock will take (TooManyClips). The link is fine: the dock
    records the answer and goes on with what it can still do, and the verdict names it.
"""


class RecorderError(Exception):
    """Root of everything a conversation with a recorder can end in."""


class LinkError(RecorderError):
    """The link failed: the recorder stopped answering sensibly."""


class LinkTimeout(LinkError):
    """The recorder did not answer within the timeout, after the retries."""


class ProtocolError(LinkError):
    """A frame or payload that does not follow PROTOCOL.md."""


class ProtocolMismatch(LinkError):
    """The recorder speaks another protocol version or message table."""

    def __init__(self, recorder_version, recorder_hash, dock_version, dock_hash, serial=""):
        who = f"recorder {serial}" if serial else "recorder"
        super().__init__(
            f"{who} speaks protocol v{recorder_version} (table {recorder_hash.hex()}), "
            f"this dock speaks v{dock_version} (table {dock_hash.hex()}): "
            "reflash the recorder or update the dock"
        )
        self.recorder_version = recorder_version
        self.dock_version = dock_version
        self.serial = serial  # as the recorder gave it in HelloReply, unverified


class Refused(RecorderError):
    """The recorder answered with an Error reply: a clear no, over a working link."""

    def __init__(self, code, detail, request):
        from firmware_bridge.messages import ERROR_NAMES

        self.error_name = ERROR_NAMES.get(code, f"error {code}")
        super().__init__(
            f"recorder refused {request}: {self.error_name}" + (f" ({detail})" if detail else "")
        )
        self.code = code
        self.detail = detail
        self.request = request


class AuthenticationFailed(RecorderError):
    """The pairing key did not prove itself, on either side."""


class TooManyClips(RecorderError):
    """The recorder claims more clips than the dock lists (offload.max_listed_clips)."""

    def __init__(self, claimed, limit):
        super().__init__(
            f"the recorder claims {claimed} clips, more than the {limit} this dock lists "
            "(offload.max_listed_clips): its firmware may be faulty or tampered with; "
            "hand it to a custodian"
        )
        self.claimed = claimed
        self.limit = limit


class ListingTooSlow(RecorderError):
    """The recorder's listing took longer than the dock waits for one (offload.max_listing_s)."""

    def __init__(self, listed, elapsed_s, limit_s):
        super().__init__(
            f"the recorder had listed only {listed} clips after {elapsed_s:.0f} s, more than "
            f"the {limit_s:g} s this dock waits (offload.max_listing_s): hand it to a custodian"
        )
        self.listed = listed
        self.elapsed_s = elapsed_s
        self.limit_s = limit_s
