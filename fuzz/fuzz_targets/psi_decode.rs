//! Fuzzes decoding of PSI wire messages (untrusted input on both sides): decoding must never
//! panic, and whatever decodes must re-encode to the same bytes.
#![no_main]

use detente_psi::{Request, RequestHeader, Response};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = RequestHeader::parse(data);
    if let Ok(request) = Request::decode(data, 1 << 20) {
        assert_eq!(request.encode(), data);
    }
    if let Ok(response) = Response::decode(data, 1 << 20, 1 << 20) {
        assert_eq!(response.encode(), data);
    }
});
