"""OTA images: the Zigbee (ZCL ch. 11) and GBCS file formats, signing and verification, the image
catalogue, and (on top, with zigpy) the OTA server and campaigns. The format, signing and catalogue
modules are pure: bytes in, objects and verdicts out, no radio and no event loop.
"""
