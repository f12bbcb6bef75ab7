"""The recorder link: one protocol shared by the recorder firmware and the dock.

`framing`, `messages` and `auth` keep to the MicroPython subset; the recorder imports them
as they are. `link`, `transport`, `client` and `sim/` are CPython only.
"""
