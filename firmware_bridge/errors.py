"""Typed failures of the recorder link. Callers branch on the class, never on the text."""


class LinkError(Exception):
    """Root of every recorder-link failure."""


class LinkTimeout(LinkError):
    """The recorder did not answer within the timeout, after the retries."""


class ProtocolError(LinkError):
    """A frame or payload that does not follow PROTOCOL.md."""


class ProtocolMismatch(LinkError):
    """The recorder speaks another protocol version or message table."""

    def __init__(self, recorder_version, recorder_hash, dock_version, dock_hash):
        super().__init__(
            f"recorder speaks protocol v{recorder_version} (table {recorder_hash.hex()}), "
            f"this dock speaks v{dock_version} (table {dock_hash.hex()}): "
            "reflash the recorder or update the dock"
        )
        self.recorder_version = recorder_version
        self.dock_version = dock_version


class Refused(LinkError):
    """The recorder answered with an Error reply."""

    def __init__(self, code, detail, request):
        from firmware_bridge.messages import ERROR_NAMES

        super().__init__(
            f"recorder refused {request}: {ERROR_NAMES.get(code, f'error {code}')}"
            + (f" ({detail})" if detail else "")
        )
        self.code = code
        self.detail = detail


class AuthenticationFailed(LinkError):
    """The pairing key did not prove itself, on either side."""
