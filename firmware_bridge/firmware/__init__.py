"""The reference recorder firmware (MicroPython subset); see recorder.py and board.py."""
