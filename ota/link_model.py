"""What "fast" means for a Zigbee OTA transfer: the air and host-link timing model (from the shared
``ota-link-model.md``), a pure library like the rest of ``ota``'s format code.

Owns every constant and formula that turns a frame's real byte length into channel and UART time:
the 2.4 GHz O-QPSK PHY (32 µs/octet, 6 octets of PHY overhead), the 802.15.4 MAC (mean CSMA backoff,
MAC ACK cycle, inter-frame spacing), the Zigbee PRO NWK/APS headers and security, and EZSP-over-ASH
framing on the host UART. The OTA server sizes its blocks with :func:`max_ota_block`, the simulated HAN
(``hal.sim``) times every frame with :class:`LinkModel`, and the OTA benchmark and the reports print
their "modelled limit" figures from the same functions, so none of them can disagree.

The host link counts every frame that crosses the UART per OTA block when bellows drives an EZSP NCP
(measured on the virtual stick's ASH layer), for the three ways a unicast can leave the host
(:class:`HostSend`): hanrig's lean path (``sendUnicast`` alone: hanrig knows each device's
extended-timeout state, see ``hal/zigpy_fixes.py``), XNCP's combined send (one ``customFrame`` carrying
the message and the extended-timeout flag), and bellows as shipped against a plain NCP
(``getExtendedTimeout`` and its response before every ``sendUnicast``). Besides those: the command's
response, an ASH ACK for every DATA frame, and ``messageSentHandler``, which echoes the message only when
the host sets the MESSAGE_CONTENTS_IN_CALLBACK policy (bellows leaves the NCP's default, tag only). The
shared model's accounting (``ota_limit.py``: the incoming callback plus one sendUnicast on the critical
path) stays available as the ``shared_*`` functions, so both figures can be printed. On the lean path
the two agree (cycle, and byte totals but for messageSentHandler's length octet); the XNCP and
shipped-bellows paths count more frames and octets per block.
A message longer than one frame travels in APS fragments: each fragment carries the 2-octet extended
header, and each window of :data:`APS_FRAGMENT_WINDOW` fragments costs an APS ACK 3 octets longer than a
plain one (:func:`fragment_psdu_length`, :func:`fragment_ack_psdu_length`,
:meth:`LinkModel.fragmented_air_us`).
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
MAC_MAX_BE = 5  # macMaxBE
MAC_MAX_CSMA_BACKOFFS = 4  # macMaxCSMABackoffs
MAC_MAX_FRAME_RETRIES = 3  # macMaxFrameRetries
APS_MAX_FRAME_RETRIES = 3  # apsMaxFrameRetries (Zigbee PRO): an acknowledged unicast is sent up to 4 times
MAC_ACK_PSDU = 5  # FC 2 + seq 1 + FCS 2
MAC_ACK_WAIT_US = (20 + 12 + 10 + 12) * SYMBOL_US

# Zigbee PRO unicast frame, short addressing, PAN-ID compression
MAC_HEADER, MAC_FCS = 9, 2
NWK_HEADER = 8
NWK_AUX_HEADER, NWK_MIC = 14, 4
APS_HEADER = 8
APS_SECURITY = 5 + 4  # aux header + MIC when APS link-key encryption is on
APS_ACK_HEADER = 8
APS_FRAGMENT_HEADER = 2  # APS extended header of a fragment: extended frame control + block number
APS_FRAGMENT_ACK_HEADER = 3  # ... of the APS ACK of a window of fragments: + the ACK bitfield
APS_FRAGMENT_WINDOW = 1  # apsMaxWindowSize as EmberZNet ships it (CONFIG_FRAGMENT_WINDOW_SIZE)
APS_ACK_WAIT_S = 1.6  # how long a sender waits for an APS ACK (EmberZNet's CONFIG_APS_ACK_TIMEOUT default)
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


def fragment_psdu_length(block: int, *, aps_security: bool = False, relays: int = 0) -> int:
    """PSDU length of one APS fragment carrying ``block`` octets of the message (Zigbee PRO 2.2.8.4.5)."""
    return psdu_length(block + APS_FRAGMENT_HEADER, aps_security=aps_security, relays=relays)


def fragment_ack_psdu_length(*, aps_security: bool = False, relays: int = 0) -> int:
    """PSDU length of the APS ACK of a window of fragments (block number and ACK bitfield)."""
    return aps_ack_psdu_length(aps_security=aps_security, relays=relays) + APS_FRAGMENT_ACK_HEADER


def fragment_block_size(*, aps_security: bool = False, relays: int = 0) -> int:
    """Octets of a fragmented message that one fragment carries."""
    return max_aps_payload(aps_security=aps_security, relays=relays) - APS_FRAGMENT_HEADER


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
    """ASH bytes on the UART for an EZSP sendUnicast carrying ``aps_payload`` octets (EZSPv8-v13)."""
    ezsp = EZSP_HEADER + 1 + 2 + EMBER_APS_FRAME + 1 + 1 + aps_payload
    return ASH_DATA_OVERHEAD + ezsp * (1 + ASH_STUFFING)


def uart_bytes_ncp_to_host(aps_payload: int) -> float:
    """ASH bytes on the UART for an EZSP incomingMessageHandler carrying ``aps_payload`` octets (v8-v13)."""
    ezsp = EZSP_HEADER + 1 + EMBER_APS_FRAME + 1 + 1 + 2 + 1 + 1 + 1 + aps_payload
    return ASH_DATA_OVERHEAD + ezsp * (1 + ASH_STUFFING)


def ash_data_bytes(ezsp_parameters: int) -> float:
    """Expected wire bytes of an ASH DATA frame whose EZSP frame has ``ezsp_parameters`` octets after the
    v8+ header: control, header and parameters (randomised, then escaped), CRC, Flag."""
    return ASH_DATA_OVERHEAD + (EZSP_HEADER + ezsp_parameters) * (1 + ASH_STUFFING)


@dataclass(frozen=True)
class EzspLayout:
    """Parameter octets (after the EZSP header, without the message itself) of the frames bellows
    exchanges per unicast, for one range of EZSP versions (bellows' ``commands.py`` schemas)."""

    incoming_message: int  # incomingMessageHandler, incl. the message's length octet
    send_unicast: int  # sendUnicast command, incl. the length octet
    send_unicast_response: int  # status + APS sequence
    message_sent: int  # messageSentHandler, incl. the length octet of the message it echoes
    extended_timeout_command: int  # getExtendedTimeout(remoteEui64)
    extended_timeout_response: int


# v8-v13: EmberStatus (1 octet), 1-octet message tags, incomingMessageHandler without EUI-64/timestamp
EZSP_LAYOUT_V8 = EzspLayout(incoming_message=1 + EMBER_APS_FRAME + 1 + 1 + 2 + 1 + 1 + 1,
                            send_unicast=1 + 2 + EMBER_APS_FRAME + 1 + 1, send_unicast_response=1 + 1,
                            message_sent=1 + 2 + EMBER_APS_FRAME + 1 + 1 + 1,
                            extended_timeout_command=8, extended_timeout_response=1)
# v14+: sl_Status (4 octets), 2-octet message tags, incomingMessageHandler adds the EUI-64 and a timestamp
EZSP_LAYOUT_V14 = EzspLayout(incoming_message=1 + EMBER_APS_FRAME + 2 + 8 + 1 + 1 + 1 + 1 + 4 + 1,
                             send_unicast=1 + 2 + EMBER_APS_FRAME + 2 + 1, send_unicast_response=4 + 1,
                             message_sent=4 + 1 + 2 + EMBER_APS_FRAME + 2 + 1,
                             extended_timeout_command=8, extended_timeout_response=4)


class HostSend:
    """How the host hands a unicast to the NCP (see the module docstring)."""

    LEAN = "sendUnicast"  # the extended-timeout state is known to the host: sendUnicast alone
    XNCP = "xncp"  # XNCP COMBINED_SEND: customFrame(SendUnicastReq with the extended-timeout flag)
    BELLOWS = "getExtendedTimeout+sendUnicast"  # bellows against a plain NCP, as shipped

    ALL = (LEAN, XNCP, BELLOWS)


# XNCP frames inside customFrame (bellows/ezsp/xncp.py): command id 2 + status 1, then the payload
XNCP_HEADER = 2 + 1
XNCP_SEND_UNICAST = 1 + 2 + EMBER_APS_FRAME + 1 + 8 + 1  # flags, destination, APS frame, tag, EUI-64 + flag
XNCP_SEND_UNICAST_RESPONSE = 4 + 1  # sl_Status, APS sequence


def xncp_custom_frame(xncp_payload: int) -> int:
    """Parameter octets of a customFrame command or response carrying one XNCP frame (its LVBytes)."""
    return 1 + XNCP_HEADER + xncp_payload


def ezsp_layout(ezsp_version: int) -> EzspLayout:
    """The frame layout of an EZSP protocol version (v8 and later; the v8+ header is assumed)."""
    if ezsp_version < 8:
        raise ValueError(f"EZSP version {ezsp_version}: only v8 and later are modelled")
    return EZSP_LAYOUT_V14 if ezsp_version >= 14 else EZSP_LAYOUT_V8


def send_command_bytes(aps_payload: int, *, ezsp_version: int = 13,
                       host_send: str = HostSend.LEAN) -> tuple[dict[str, float], dict[str, float]]:
    """UART bytes of the DATA frames that hand one unicast to the NCP, as ``(host_to_ncp, ncp_to_host)``
    by EZSP frame name (ASH ACKs not included)."""
    layout = ezsp_layout(ezsp_version)
    if host_send == HostSend.XNCP:
        return ({"customFrame": ash_data_bytes(xncp_custom_frame(XNCP_SEND_UNICAST + aps_payload))},
                {"customFrame": ash_data_bytes(1 + xncp_custom_frame(XNCP_SEND_UNICAST_RESPONSE))})
    to_ncp = {"sendUnicast": ash_data_bytes(layout.send_unicast + aps_payload)}
    to_host = {"sendUnicast": ash_data_bytes(layout.send_unicast_response)}
    if host_send == HostSend.BELLOWS:
        to_ncp["getExtendedTimeout"] = ash_data_bytes(layout.extended_timeout_command)
        to_host["getExtendedTimeout"] = ash_data_bytes(layout.extended_timeout_response)
    elif host_send != HostSend.LEAN:
        raise ValueError(f"host send {host_send!r}: expected one of {', '.join(HostSend.ALL)}")
    return to_ncp, to_host


def host_link_block_bytes(block: int, *, ezsp_version: int = 13, request_options: int = 0,
                          host_send: str = HostSend.LEAN, message_contents_in_callback: bool = False,
                          ) -> tuple[dict[str, float], dict[str, float]]:
    """Expected UART bytes of one Image Block Request/Response exchange through bellows, per frame, as
    ``(host_to_ncp, ncp_to_host)``. Labels are the EZSP frame names (and ``ACK``), as the virtual stick
    counts them: every DATA frame is acknowledged by its own ASH ACK in the other direction."""
    layout = ezsp_layout(ezsp_version)
    request = ZCL_HEADER + IMAGE_BLOCK_REQUEST_PAYLOAD + request_options
    response = ZCL_HEADER + IMAGE_BLOCK_RESPONSE_FIXED + block
    to_ncp, to_host = send_command_bytes(response, ezsp_version=ezsp_version, host_send=host_send)
    echoed = response if message_contents_in_callback else 0
    to_host = {"incomingMessageHandler": ash_data_bytes(layout.incoming_message + request), **to_host,
               "messageSentHandler": ash_data_bytes(layout.message_sent + echoed)}
    # the host ACKs each NCP DATA frame, the NCP each command
    to_ncp["ACK"] = float(len(to_host)) * ASH_ACK
    to_host["ACK"] = float(len(to_ncp) - 1) * ASH_ACK
    return to_ncp, to_host


def shared_uart_block_bytes(block: int, *, request_options: int = 0) -> tuple[float, float]:
    """The shared model's UART bytes per block (``ota_limit.uart_per_block``): one sendUnicast and three
    ACKs to the NCP; its response, a message-less messageSentHandler, the incoming callback and one ACK
    back."""
    request = ZCL_HEADER + IMAGE_BLOCK_REQUEST_PAYLOAD + request_options
    response = ZCL_HEADER + IMAGE_BLOCK_RESPONSE_FIXED + block
    layout = EZSP_LAYOUT_V8
    to_ncp = ash_data_bytes(layout.send_unicast + response) + 3 * ASH_ACK
    to_host = (ash_data_bytes(layout.send_unicast_response) + ash_data_bytes(layout.message_sent - 1)
               + ash_data_bytes(layout.incoming_message + request) + ASH_ACK)
    return to_ncp, to_host


@dataclass(frozen=True)
class LinkModel:
    """How long frames take on one virtual PAN. ``enabled=False`` makes every cost zero (host-cost runs)."""

    enabled: bool = True
    aps_security: bool = False
    aps_ack: bool = True
    typical: bool = True  # mean CSMA backoff and IFS; False = the zero-backoff floor
    host_link_baudrate: int = 0  # 0 = no EZSP-over-UART cost
    ezsp_version: int = 13  # frame layouts on the host link (v8-v13 and v14+ differ)
    host_send: str = HostSend.LEAN  # how a unicast is handed to the NCP (HostSend)
    message_contents_in_callback: bool = False  # the NCP echoes each message in messageSentHandler
    fragment_window: int = APS_FRAGMENT_WINDOW  # APS fragments sent before the receiver's ACK

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

    def fragmented_air_us(self, message: int, *, window: int = APS_FRAGMENT_WINDOW, relays: int = 0) -> float:
        """Channel time of a ``message``-octet APS payload sent in fragments over one hop, none lost: each
        fragment (with its extended header) and one APS ACK per window of ``window`` fragments."""
        if not self.enabled:
            return 0.0
        size = fragment_block_size(aps_security=self.aps_security, relays=relays)
        blocks = max(-(-message // size), 1)
        total = 0.0
        for index in range(blocks):
            block = min(size, message - index * size)
            total += hop_us(fragment_psdu_length(block, aps_security=self.aps_security, relays=relays),
                            typical=self.typical)
        windows = -(-blocks // window)
        ack = fragment_ack_psdu_length(aps_security=self.aps_security, relays=relays)
        return total + windows * hop_us(ack, typical=self.typical)

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

    def uart_us(self, nbytes: float) -> float:
        """Time ``nbytes`` take on the host UART (0 when no host link is modelled)."""
        if not self.enabled or not self.host_link_baudrate:
            return 0.0
        return nbytes * UART_BITS_PER_BYTE / self.host_link_baudrate * 1e6

    def host_tx_us(self, aps_payload: int) -> float:
        """UART time to hand a unicast to the NCP along :attr:`host_send`: the sending command, preceded
        (bellows against a plain NCP) by getExtendedTimeout, the NCP's ACK and response and the host's
        ACK of it (one command in flight at a time)."""
        to_ncp, to_host = send_command_bytes(aps_payload, ezsp_version=self.ezsp_version,
                                             host_send=self.host_send)
        nbytes = sum(to_ncp.values())
        if "getExtendedTimeout" in to_host:
            nbytes += ASH_ACK + to_host["getExtendedTimeout"] + ASH_ACK
        return self.uart_us(nbytes)

    def host_rx_us(self, aps_payload: int) -> float:
        """UART time for the NCP to pass a received frame to the host (incomingMessageHandler)."""
        return self.uart_us(ash_data_bytes(ezsp_layout(self.ezsp_version).incoming_message + aps_payload))

    def host_sent_us(self, aps_payload: int) -> float:
        """UART time the NCP-to-host line is held after a unicast is delivered: messageSentHandler (which
        echoes the message only under MESSAGE_TAG_AND_CONTENTS_IN_CALLBACK) and the host's ACK, before
        the NCP may send its next DATA frame."""
        layout = ezsp_layout(self.ezsp_version)
        echoed = aps_payload if self.message_contents_in_callback else 0
        return self.uart_us(ash_data_bytes(layout.message_sent + echoed) + ASH_ACK)

    def shared_host_tx_us(self, aps_payload: int) -> float:
        """The shared model's cost of handing a unicast to the NCP: the sendUnicast frame alone."""
        return self.uart_us(uart_bytes_host_to_ncp(aps_payload))

    def shared_host_rx_us(self, aps_payload: int) -> float:
        """The shared model's cost of a received frame: the v8-v13 incomingMessageHandler."""
        return self.uart_us(uart_bytes_ncp_to_host(aps_payload))

    def block_exchange_air_us(self, block: int, *, hops: int = 1, request_options: int = 0) -> float:
        """Channel occupancy of one Image Block Request + Response (all frames, all hops)."""
        request = ZCL_HEADER + IMAGE_BLOCK_REQUEST_PAYLOAD + request_options
        response = ZCL_HEADER + IMAGE_BLOCK_RESPONSE_FIXED + block
        return self.frame_air_us(request, hops=hops) + self.frame_air_us(response, hops=hops, relays=hops - 1)

    def block_cycle_us(
        self, block: int, *, hops: int = 1, host_us: float = 0.0, device_us: float = 0.0
    ) -> float:
        """Stop-and-wait critical path of one block: request -> host (overlapping the coordinator's APS ACK
        of the request) -> response -> the device's APS ACK -> device processing, with every host-link
        frame on the critical path: the incoming callback, the sending command(s) of :attr:`host_send`
        on the way out, and the next request's callback waiting behind messageSentHandler when the UART
        is slower than the device's turnaround. Without a host link, and on the lean path (whose
        messageSentHandler is short enough to hide behind the next request), this is the shared
        model's cycle."""
        if not self.enabled:
            return host_us + device_us
        request_payload = ZCL_HEADER + IMAGE_BLOCK_REQUEST_PAYLOAD
        response_payload = ZCL_HEADER + IMAGE_BLOCK_RESPONSE_FIXED + block
        request = psdu_length(request_payload, aps_security=self.aps_security)
        response = psdu_length(response_payload, aps_security=self.aps_security, relays=hops - 1)
        host = host_us + self.host_rx_us(request_payload) + self.host_tx_us(response_payload)
        ack_down = (
            hops * hop_us(aps_ack_psdu_length(aps_security=self.aps_security, relays=hops - 1),
                          typical=self.typical)
            if self.aps_ack
            else 0.0
        )
        # from the device's APS ACK of the last block reaching the NCP: the next request is on its way
        # while messageSentHandler of the last block still holds the NCP-to-host line
        turnaround = max(device_us + hops * hop_us(request, typical=self.typical),
                         self.host_sent_us(response_payload))
        cycle = turnaround + max(host, ack_down) + hops * hop_us(response, typical=self.typical)
        if self.aps_ack:
            cycle += hops * hop_us(aps_ack_psdu_length(aps_security=self.aps_security), typical=self.typical)
        return cycle

    def block_throughput_bps(
        self, block: int, *, hops: int = 1, host_us: float = 0.0, device_us: float = 0.0
    ) -> float:
        """Stop-and-wait bytes/s for one device along :meth:`block_cycle_us`."""
        cycle = self.block_cycle_us(block, hops=hops, host_us=host_us, device_us=device_us)
        return block / (cycle / 1e6) if cycle else float("inf")

    def shared_block_cycle_us(
        self, block: int, *, hops: int = 1, host_us: float = 0.0, device_us: float = 0.0
    ) -> float:
        """The shared model's cycle (``ota_limit.py``): like :meth:`block_cycle_us`, but the host link
        counts only the incoming callback and the sendUnicast frame."""
        if not self.enabled:
            return host_us + device_us
        request = psdu_length(ZCL_HEADER + IMAGE_BLOCK_REQUEST_PAYLOAD, aps_security=self.aps_security)
        response = psdu_length(
            ZCL_HEADER + IMAGE_BLOCK_RESPONSE_FIXED + block, aps_security=self.aps_security, relays=hops - 1
        )
        host = (
            host_us
            + self.shared_host_rx_us(ZCL_HEADER + IMAGE_BLOCK_REQUEST_PAYLOAD)
            + self.shared_host_tx_us(ZCL_HEADER + IMAGE_BLOCK_RESPONSE_FIXED + block)
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

    def shared_block_throughput_bps(
        self, block: int, *, hops: int = 1, host_us: float = 0.0, device_us: float = 0.0
    ) -> float:
        """Stop-and-wait bytes/s for one device along :meth:`shared_block_cycle_us`."""
        cycle = self.shared_block_cycle_us(block, hops=hops, host_us=host_us, device_us=device_us)
        return block / (cycle / 1e6) if cycle else float("inf")


ZERO_LATENCY = LinkModel(enabled=False)
