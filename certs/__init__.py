"""SMKI certificates (GBCS section 12): parsing, profile checks, chains to trust anchors, trust anchor
cells, the SECMP0063 network-operator check, Zigbee SE implicit certificates, and a test PKI.
A pure library: bytes in, reports out.
"""
