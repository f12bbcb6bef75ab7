"""Evidence discs: two labelled ISO-9660 + Joliet + UDF images of an approved export.

`write_export` (dock.export.disc) is called by the command layer once an export has its
approvals and two people's confirmation; `verify_image` (dock.export.verify) checks an image
without mounting it.
"""
