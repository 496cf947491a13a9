//! qubesd's wire format: request framing, replies, Python-style `repr`.

/// qubesd reads at most this many bytes of a request; beyond it the
/// connection is aborted without a reply.
pub const MAX_REQUEST: usize = qubesadmin::validate::MAX_REQUEST_BYTES;

/// A framed request, still as untrusted bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawRequest {
    pub method: Vec<u8>,
    pub arg: Vec<u8>,
    pub src: Vec<u8>,
    /// After `keyword adminvm` → `dom0`.
    pub dest: Vec<u8>,
    pub payload: Vec<u8>,
}

/// Split `METHOD[+ARG] SRC DESTTYPE DEST\0PAYLOAD` as qubesd does; `None`
/// is a framing error (qubesd closes the connection without a reply).
pub fn parse_request(buf: &[u8]) -> Option<RawRequest> {
    let nul = buf.iter().position(|&b| b == 0)?;
    let (header, payload) = (&buf[..nul], &buf[nul + 1..]);
    // Python `split(b" ", 3)` then unpacking into exactly four names.
    let mut parts = header.splitn(4, |&b| b == b' ');
    let meth_arg = parts.next()?;
    let src = parts.next()?;
    let dest_type = parts.next()?;
    let dest = parts.next()?;
    let dest: &[u8] = match (dest_type, dest) {
        (b"keyword", b"adminvm") => b"dom0",
        (b"name", d) => d,
        _ => return None,
    };
    let (method, arg) = match meth_arg.iter().position(|&b| b == b'+') {
        Some(plus) => (&meth_arg[..plus], &meth_arg[plus + 1..]),
        None => (meth_arg, &b""[..]),
    };
    Some(RawRequest {
        method: method.to_vec(),
        arg: arg.to_vec(),
        src: src.to_vec(),
        dest: dest.to_vec(),
        payload: payload.to_vec(),
    })
}

/// Encode a request as a dom0 client sends it (`name DEST`, or `keyword
/// adminvm` when `dest` is `None`).
pub fn encode_request(
    method: &str,
    arg: &str,
    src: &str,
    dest: Option<&str>,
    payload: &[u8],
) -> Vec<u8> {
    let mut out = format!("{method}+{arg} {src} ").into_bytes();
    match dest {
        Some(d) => out.extend_from_slice(format!("name {d}").as_bytes()),
        None => out.extend_from_slice(b"keyword adminvm"),
    }
    out.push(0);
    out.extend_from_slice(payload);
    out
}

/// `0\0` + body.
pub fn ok_reply(body: &[u8]) -> Vec<u8> {
    let mut out = b"0\0".to_vec();
    out.extend_from_slice(body);
    out
}

/// `2\0CLASS\0\0MESSAGE\0` (qubesd without `--debug` sends no traceback).
pub fn error_reply(class: &str, message: &str) -> Vec<u8> {
    let mut out = b"2\0".to_vec();
    out.extend_from_slice(class.as_bytes());
    out.extend_from_slice(b"\0\0");
    out.extend_from_slice(message.as_bytes());
    out.push(0);
    out
}

/// Python's `repr()` of a `str`, as qubesd's messages use it (`{!r}`).
pub use qrexec::py_repr;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn framing_matches_qubesd() {
        let r = parse_request(b"admin.vm.List+ dom0 keyword adminvm\0").expect("valid");
        assert_eq!(r.dest, b"dom0");
        assert_eq!(r.method, b"admin.vm.List");
        let r = parse_request(b"admin.vm.List dom0 name dom0\0").expect("no plus is accepted");
        assert!(r.arg.is_empty());
        let r = parse_request(b"a+b+c src name d e\0p\0q")
            .expect("dest keeps spaces, payload keeps NULs");
        assert_eq!(r.arg, b"b+c");
        assert_eq!(r.dest, b"d e");
        assert_eq!(r.payload, b"p\0q");
        assert!(parse_request(b"admin.vm.List+ dom0 dom0\0").is_none());
        assert!(parse_request(b"admin.vm.List+ dom0 name dom0").is_none());
        assert!(parse_request(b"admin.vm.List+ dom0 id 0\0").is_none());
        assert!(parse_request(b"admin.vm.List+ dom0 keyword other\0").is_none());
        assert!(parse_request(b"").is_none());
    }

    #[test]
    fn repr_like_python() {
        assert_eq!(py_repr("maybe"), "'maybe'");
        assert_eq!(py_repr("it's"), "\"it's\"");
        assert_eq!(py_repr("a'b\"c"), "'a\\'b\"c'");
        assert_eq!(py_repr("x\ny\\"), "'x\\ny\\\\'");
    }
}
