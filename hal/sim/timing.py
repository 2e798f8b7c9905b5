"""The air/host-link timing model of the simulated HAN (from the shared ``ota-link-model.md``).

Owns every constant and formula that turns a frame's real byte length into channel and UART time:
the 2.4 GHz O-QPSK PHY (32 µs/octet, 6 octets of PHY overhead), the 802.15.4 MAC (mean CSMA backoff,
MAC ACK cycle, inter-frame spacing), the Zigbee PRO NWK/APS headers and security, and EZSP-over-ASH
framing on the host UART. The simulator times every frame with :class:`LinkModel`; the OTA benchmark
prints its "modelled limit" figures from the same functions, so the two cannot disagree.
Sources for each constant: IEEE 802.15.4-2006 Table 22 (PHY/MAC), Zigbee PRO 2015 (NWK/APS frame
formats), ZCL 11.13 (OTA commands), UG100/UG101 (EZSP, ASH).
"""

from __future__ import annotations

from dataclasses import dataclass

# PHY / MAC (IEEE 802.15.4-2006, 2.4 GHz O-QPSK)
SYMBOL_US = 16.0
BYTE_US = 2 * SYMBOL_US  # 2 symbols per octet
PHY_OVERHEAD = 6  # preamble 4 + SFD 1 + PHR 1
MAX_PSDU = 127  # aMaxPHYPacketSize
TURNAROUND_US = 12 * SYMBOL_US  # aTurnaroundTime
UNIT_BACKOFF_US = 20 * SYMBOL_US  # aUnitBackoffPeriod
CCA_US = 8 * SYMBOL_US
LIFS_US = 40 * SYMBOL_US
SIFS_US = 12 * SYMBOL_US
MAX_SIFS_FRAME = 18  # aMaxSIFSFrameSize
MAC_MIN_BE = 3
MAC_MAX_FRAME_RETRIES = 3  # macMaxFrameRetries
MAC_ACK_PSDU = 5  # FC 2 + seq 1 + FCS 2
MAC_ACK_WAIT_US = (20 + 12 + 10 + 12) * SYMBOL_US

# Zigbee PRO unicast frame, short addressing, PAN-ID compression
MAC_HEADER, MAC_FCS = 9, 2
NWK_HEADER = 8
NWK_AUX_HEADER, NWK_MIC = 14, 4
APS_HEADER = 8
APS_SECURITY = 5 + 4  # aux header + MIC when APS link-key encryption is on
APS_ACK_HEADER = 8
ZCL_HEADER = 3
IMAGE_BLOCK_REQUEST_PAYLOAD = 14
IMAGE_BLOCK_RESPONSE_FIXED = 14

# EZSP over ASH (UG100/UG101)
EZSP_HEADER = 5
EMBER_APS_FRAME = 11
ASH_DATA_OVERHEAD = 1 + 2 + 1  # control, CRC, flag
ASH_ACK = 4
ASH_STUFFING = 6 / 256  # expected escape expansion of LFSR-randomised data
UART_BITS_PER_BYTE = 10  # 8N1

T_MAC_ACK_US = TURNAROUND_US + (PHY_OVERHEAD + MAC_ACK_PSDU) * BYTE_US
T_CSMA_MIN_US = CCA_US + TURNAROUND_US
T_CSMA_MEAN_US = (2**MAC_MIN_BE - 1) / 2 * UNIT_BACKOFF_US + CCA_US + TURNAROUND_US


def source_route_bytes(relays: int) -> int:
    """NWK source-route subframe length for ``relays`` relays (0 when not source-routed)."""
    return 0 if relays == 0 else 2 + 2 * relays


def psdu_length(aps_payload: int, *, aps_security: bool = False, relays: int = 0) -> int:
    """802.15.4 PSDU length of a secured Zigbee PRO data frame carrying ``aps_payload`` octets."""
    return (
        MAC_HEADER
        + MAC_FCS
        + NWK_HEADER
        + source_route_bytes(relays)
        + NWK_AUX_HEADER
        + NWK_MIC
        + APS_HEADER
        + (APS_SECURITY if aps_security else 0)
        + aps_payload
    )


def aps_ack_psdu_length(*, aps_security: bool = False, relays: int = 0) -> int:
    """PSDU length of an APS acknowledgement."""
    return psdu_length(0, aps_security=aps_security, relays=relays) - APS_HEADER + APS_ACK_HEADER


def max_aps_payload(*, aps_security: bool = False, relays: int = 0, ieee_addrs: int = 0) -> int:
    """Largest APS payload that fits one 802.15.4 frame (no fragmentation)."""
    return MAX_PSDU - psdu_length(0, aps_security=aps_security, relays=relays) - 8 * ieee_addrs


def max_ota_block(*, aps_security: bool = False, relays: int = 0, ieee_addrs: int = 0) -> int:
    """Largest Image Block Response data size that fits one frame."""
    return (
        max_aps_payload(aps_security=aps_security, relays=relays, ieee_addrs=ieee_addrs)
        - ZCL_HEADER
        - IMAGE_BLOCK_RESPONSE_FIXED
    )


def frame_us(psdu: int) -> float:
    """On-air time of one PPDU."""
    return (PHY_OVERHEAD + psdu) * BYTE_US


def hop_us(psdu: int, *, typical: bool = True) -> float:
    """One MAC transmission: CSMA, the frame, the MAC ACK cycle, and the inter-frame space."""
    csma = T_CSMA_MEAN_US if typical else T_CSMA_MIN_US
    ifs = (LIFS_US if psdu > MAX_SIFS_FRAME else SIFS_US) if typical else 0.0
    return csma + frame_us(psdu) + T_MAC_ACK_US + ifs


def uart_bytes_host_to_ncp(aps_payload: int) -> float:
    """ASH bytes on the UART for an EZSP sendUnicast carrying ``aps_payload`` octets."""
    ezsp = EZSP_HEADER + 1 + 2 + EMBER_APS_FRAME + 1 + 1 + aps_payload
    return ASH_DATA_OVERHEAD + ezsp * (1 + ASH_STUFFING)


def uart_bytes_ncp_to_host(aps_payload: int) -> float:
    """ASH bytes on the UART for an EZSP incomingMessageHandler carrying ``aps_payload`` octets."""
    ezsp = EZSP_HEADER + 1 + EMBER_APS_FRAME + 1 + 1 + 2 + 1 + 1 + 1 + aps_payload
    return ASH_DATA_OVERHEAD + ezsp * (1 + ASH_STUFFING)


@dataclass(frozen=True)
class LinkModel:
    """How long frames take on one virtual PAN. ``enabled=False`` makes every cost zero (host-cost runs)."""

    enabled: bool = True
    aps_security: bool = False
    aps_ack: bool = True
    typical: bool = True  # mean CSMA backoff and IFS; False = the zero-backoff floor
    host_link_baudrate: int = 0  # 0 = no EZSP-over-UART cost

    def frame_air_us(self, aps_payload: int, *, hops: int = 1, relays: int = 0) -> float:
        """Channel time of one unicast data frame over ``hops`` hops, plus its APS ACK when enabled."""
        if not self.enabled:
            return 0.0
        data = psdu_length(aps_payload, aps_security=self.aps_security, relays=relays)
        total = hops * hop_us(data, typical=self.typical)
        if self.aps_ack:
            ack = aps_ack_psdu_length(aps_security=self.aps_security, relays=relays)
            total += hops * hop_us(ack, typical=self.typical)
        return total

    def broadcast_air_us(self, aps_payload: int) -> float:
        """Channel time of one broadcast (no MAC or APS ACK, one CSMA + frame + IFS)."""
        if not self.enabled:
            return 0.0
        data = psdu_length(aps_payload, aps_security=self.aps_security)
        csma = T_CSMA_MEAN_US if self.typical else T_CSMA_MIN_US
        return csma + frame_us(data) + (LIFS_US if self.typical else 0.0)

    def mac_attempt_us(self, aps_payload: int) -> float:
        """Channel time wasted by one failed MAC attempt (frame sent, ACK wait expires)."""
        if not self.enabled:
            return 0.0
        data = psdu_length(aps_payload, aps_security=self.aps_security)
        csma = T_CSMA_MEAN_US if self.typical else T_CSMA_MIN_US
        return csma + frame_us(data) + TURNAROUND_US + MAC_ACK_WAIT_US

    def host_tx_us(self, aps_payload: int) -> float:
        """UART time to hand a unicast to the NCP (0 when no host link is modelled)."""
        if not self.enabled or not self.host_link_baudrate:
            return 0.0
        return uart_bytes_host_to_ncp(aps_payload) * UART_BITS_PER_BYTE / self.host_link_baudrate * 1e6

    def host_rx_us(self, aps_payload: int) -> float:
        """UART time for the NCP to pass a received frame to the host."""
        if not self.enabled or not self.host_link_baudrate:
            return 0.0
        return uart_bytes_ncp_to_host(aps_payload) * UART_BITS_PER_BYTE / self.host_link_baudrate * 1e6

    def block_exchange_air_us(self, block: int, *, hops: int = 1, request_options: int = 0) -> float:
        """Channel occupancy of one Image Block Request + Response (all frames, all hops)."""
        request = ZCL_HEADER + IMAGE_BLOCK_REQUEST_PAYLOAD + request_options
        response = ZCL_HEADER + IMAGE_BLOCK_RESPONSE_FIXED + block
        return self.frame_air_us(request, hops=hops) + self.frame_air_us(response, hops=hops, relays=hops - 1)

    def block_cycle_us(
        self, block: int, *, hops: int = 1, host_us: float = 0.0, device_us: float = 0.0
    ) -> float:
        """Stop-and-wait critical path of one block: request -> host (overlapping the coordinator's APS ACK
        of the request) -> response -> the device's APS ACK -> device processing (the shared model)."""
        if not self.enabled:
            return host_us + device_us
        request = psdu_length(ZCL_HEADER + IMAGE_BLOCK_REQUEST_PAYLOAD, aps_security=self.aps_security)
        response = psdu_length(
            ZCL_HEADER + IMAGE_BLOCK_RESPONSE_FIXED + block, aps_security=self.aps_security, relays=hops - 1
        )
        host = (
            host_us
            + self.host_rx_us(ZCL_HEADER + IMAGE_BLOCK_REQUEST_PAYLOAD)
            + self.host_tx_us(ZCL_HEADER + IMAGE_BLOCK_RESPONSE_FIXED + block)
        )
        cycle = hops * hop_us(request, typical=self.typical)
        ack_down = (
            hops
            * hop_us(
                aps_ack_psdu_length(aps_security=self.aps_security, relays=hops - 1), typical=self.typical
            )
            if self.aps_ack
            else 0.0
        )
        cycle += max(host, ack_down)
        cycle += hops * hop_us(response, typical=self.typical)
        if self.aps_ack:
            cycle += hops * hop_us(aps_ack_psdu_length(aps_security=self.aps_security), typical=self.typical)
        return cycle + device_us

    def block_throughput_bps(
        self, block: int, *, hops: int = 1, host_us: float = 0.0, device_us: float = 0.0
    ) -> float:
        """Stop-and-wait bytes/s for one device along :meth:`block_cycle_us`."""
        cycle = self.block_cycle_us(block, hops=hops, host_us=host_us, device_us=device_us)
        return block / (cycle / 1e6) if cycle else float("inf")


ZERO_LATENCY = LinkModel(enabled=False)
