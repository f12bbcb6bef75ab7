"""The recorder simulator: the real firmware (`firmware_bridge.firmware`) on CPython, on a pty.

`SimRecorder` runs `Recorder` behind a pseudo-terminal, with a `SimBoard` whose card is a
directory, a FAT32 image or an exFAT image, and `Faults` given as arguments. CPython only.
A card is either made by the simulator (`make_storage`) or an existing dump served as it is
(`open_card`, `recorder-sim --card`), read with the dock's own readers and changed only by
exact deletions (`exact_delete`).
"""

from firmware_bridge.sim.board import SimBoard
from firmware_bridge.sim.card import open_card
from firmware_bridge.sim.cards import make_storage
from firmware_bridge.sim.clips import GeneratedClip, generate_clips, write_clip_tree
from firmware_bridge.sim.faults import Faults
from firmware_bridge.sim.images import ExfatImageStorage, Fat32ImageStorage
from firmware_bridge.sim.recorder import SimRecorder
from firmware_bridge.sim.storage import DirectoryStorage, Storage, StorageError

__all__ = [
    "DirectoryStorage",
    "ExfatImageStorage",
    "Fat32ImageStorage",
    "Faults",
    "GeneratedClip",
    "SimBoard",
    "SimRecorder",
    "Storage",
    "StorageError",
    "generate_clips",
    "make_storage",
    "open_card",
    "write_clip_tree",
]
