// HTTP/2 wire errors. These are not meshgate ErrorCodes (src/errors.ts): they carry the error
// code the connection sends in its GOAWAY (or RST_STREAM), so the HTTP/2 layer can switch on
// `errorCode` and users never see them as configuration or runtime errors.

/** An HTTP/2 connection error (RFC 9113 §5.4.1) with its error code (e.g. 0x9 COMPRESSION_ERROR). */
export class Http2ConnectionError extends Error {
  constructor(
    readonly errorCode: number,
    message: string,
  ) {
    super(message);
    this.name = "Http2ConnectionError";
  }
}

/** The error codes of RFC 9113 §7. */
export const H2_ERROR = {
  NO_ERROR: 0,
  PROTOCOL_ERROR: 1,
  INTERNAL_ERROR: 2,
  FLOW_CONTROL_ERROR: 3,
  SETTINGS_TIMEOUT: 4,
  STREAM_CLOSED: 5,
  FRAME_SIZE_ERROR: 6,
  REFUSED_STREAM: 7,
  CANCEL: 8,
  COMPRESSION_ERROR: 9,
  CONNECT_ERROR: 10,
  ENHANCE_YOUR_CALM: 11,
  INADEQUATE_SECURITY: 12,
  HTTP_1_1_REQUIRED: 13,
} as const;
