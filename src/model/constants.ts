/** Kernel constants the model uses (include/net/tcp.h, Linux 6.18, CONFIG_HZ=250), in ms or bytes. */

/** `TCP_TIMEWAIT_LEN`: how long a TIME_WAIT socket lives, ms (RFC 9293 §3.10.7.4 2·MSL, Linux's fixed 60 s). */
export const TCP_TIMEWAIT_LEN_MS = 60_000;
/** `TCP_TIMEOUT_INIT`: the RTO of a SYN / SYN-ACK before any RTT is measured, ms (RFC 6298 §2.1). */
export const TCP_TIMEOUT_INIT_MS = 1_000;
/** `TCP_RTO_MIN`: the floor of the RTO, ms; loopback RTTs are far below it, so the RTO is this. */
export const TCP_RTO_MIN_MS = 200;
/** `TCP_RTO_MAX`: the ceiling of the backed-off RTO, ms. */
export const TCP_RTO_MAX_MS = 120_000;
/** `TCP_ATO_MIN` = `TCP_DELACK_MIN` (HZ/25): the delayed-ACK timeout once data has arrived, ms. */
export const TCP_ATO_MIN_MS = 40;
/** `TCP_DELACK_MAX` (HZ/5): the longest an ACK is delayed, ms; the handshake's last ACK in ping-pong mode waits this long. */
export const TCP_DELACK_MAX_MS = 200;
/** `TCP_MAX_QUICKACKS`: ACKs sent at once after the first data (`tcp_incr_quickack()`). */
export const TCP_MAX_QUICKACKS = 16;
/** `TCP_MSS_DEFAULT`: the first guess of the peer's MSS (`tcp_initialize_rcv_mss()`), bytes. */
export const TCP_MSS_DEFAULT = 536;
/** MSS on loopback: MTU 65536 − 40 (IP+TCP) − 12 (timestamps), bytes. */
export const LOOPBACK_MSS = 65_483;
/** `tcp_retries2` default: data retransmissions before the connection is given up (ETIMEDOUT). */
export const TCP_RETRIES2 = 15;
/** `net.core.somaxconn` default: listen()'s backlog is capped at this. */
export const SOMAXCONN = 4096;
/** Default receive buffer used as the advertised window, bytes (`tcp_rmem[1]` = 131072, half of it as window). */
export const DEFAULT_RCVBUF = 131_072;
/** `tcp_wmem[1]`: a TCP socket's `sk_sndbuf` before the connection is established, bytes. */
export const TCP_WMEM_DEFAULT = 16_384;
/** `tcp_wmem[2]`: the ceiling of `tcp_sndbuf_expand()`, bytes. */
export const TCP_WMEM_MAX = 4_194_304;
/** `net.core.wmem_max` default: SO_SNDBUF's request is capped at this before doubling (`sk_setsockopt()`), bytes. */
export const SYSCTL_WMEM_MAX = 212_992;
/** `TCP_INIT_CWND`: the segments `tcp_sndbuf_expand()` sizes the buffer for when cwnd is smaller. */
export const TCP_INIT_CWND = 10;
/**
 * `MAX_TCP_HEADER` = L1_CACHE_ALIGN(128 + MAX_HEADER) with no tunnels configured, bytes (an
 * assumption about the kernel's config: it only enters `tcp_sndbuf_expand()`'s figure).
 */
export const MAX_TCP_HEADER = 192;
/** SKB_DATA_ALIGN(sizeof(struct skb_shared_info)) on x86-64, bytes. */
export const SKB_SHINFO_SIZE = 320;
/** SKB_DATA_ALIGN(sizeof(struct sk_buff)) on x86-64, bytes. */
export const SKB_STRUCT_SIZE = 256;
/**
 * What one skb of the send queue costs `sk_wmem_queued` besides its payload, bytes. The kernel
 * charges `SKB_TRUESIZE(skb_end_offset(skb))` of the fclone head (`tcp_stream_alloc_skb()`) and
 * then the payload copied into page frags (`skb_copy_to_page_nocache()`). Calibrated, not derived:
 * the model takes the fixed part, SKB_TRUESIZE(0) = 256 + 320; the recorded traces (a 4096 B SO_SNDBUF taking five
 * 2048 B skbs, 10240 B) hold only for an overhead below 683 B, so the head's own bytes are left out.
 */
export const SKB_HEAD_TRUESIZE = SKB_STRUCT_SIZE + SKB_SHINFO_SIZE;
/** `SOCK_MIN_SNDBUF` = 2 · (2048 + SKB_DATA_ALIGN(sizeof(struct sk_buff))), bytes. */
export const SOCK_MIN_SNDBUF = 2 * (2048 + SKB_STRUCT_SIZE);
