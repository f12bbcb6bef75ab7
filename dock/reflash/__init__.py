"""Technician reflash: signed firmware sent to a docked recorder, every step journaled.

`transfer` moves an image over the link (resuming from the recorder's offset), `session`
runs one recorder's update as journaled steps around it, `staging` keeps the images the
agency approved and updates a batch of docked recorders one after another.
"""
