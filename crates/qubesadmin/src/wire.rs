//! The qubesd reply format: one parser for single replies and event streams.
//!
//! * success: `0\0<data>`;
//! * exception: `2\0<type>\0<traceback>\0<message>\0(<field>\0)*`;
//! * event (only from `admin.Events`, repeated):
//!   `1\0<subject>\0<event>\0(<key>\0<value>\0)*\0`, subject empty for
//!   events of the application itself;
//! * an empty reply: qubesd closed the connection without answering — a
//!   denial on R4.2/R4.3 (and framing errors, internal errors).
//!
//! Replies are untrusted bytes. Sizes are bounded before anything is kept:
//! a single reply may be at most [`MAX_REPLY_BYTES`], one event frame at most
//! [`MAX_EVENT_FRAME_BYTES`]. Anything that breaks the format is a typed
//! [`ProtocolError`]; the parser never panics (fuzzed, see the crate doc).

use crate::error::{DenyReason, Error, ExceptionKind, ProtocolError, QubesError};

/// Largest single reply accepted (16 MiB). The largest real replies are
/// `admin.vm.List`/`property.GetAll` on big systems: a few hundred KiB.
pub const MAX_REPLY_BYTES: usize = 16 * 1024 * 1024;

/// Largest single event frame accepted (1 MiB). A feature-set event carries
/// the new and the old value, each below qubesd's 64 KiB request limit.
pub const MAX_EVENT_FRAME_BYTES: usize = 1024 * 1024;

/// Parse a complete single reply and return its data.
///
/// Empty reply and `PermissionDenied` → [`Error::AccessDenied`]; another
/// exception → [`Error::Qubes`]; an event or bad framing → [`Error::Protocol`].
pub fn parse_reply(reply: &[u8]) -> Result<&[u8], Error> {
    if reply.is_empty() {
        return Err(Error::AccessDenied(DenyReason::EmptyReply));
    }
    if reply.len() > MAX_REPLY_BYTES {
        return Err(ProtocolError::ReplyTooLarge {
            limit: MAX_REPLY_BYTES,
        }
        .into());
    }
    let Some(body) = reply.get(2..) else {
        return Err(ProtocolError::TruncatedHeader.into());
    };
    match &reply[..2] {
        b"0\0" => Ok(body),
        b"2\0" => Err(parse_exception(body)),
        b"1\0" => Err(ProtocolError::UnexpectedEvent.into()),
        other => Err(ProtocolError::UnknownReplyType(other.to_vec()).into()),
    }
}

/// Turn the body of an exception reply (after `2\0`) into the error it means.
pub fn parse_exception(body: &[u8]) -> Error {
    let mut fields = body.split(|b| *b == 0);
    let (Some(class), Some(traceback), Some(message)) =
        (fields.next(), fields.next(), fields.next())
    else {
        return ProtocolError::TruncatedException("its fields").into();
    };
    // `split` yields a final piece after the last NUL; the message must have
    // been terminated, i.e. at least one more piece must follow it.
    let rest: Vec<&[u8]> = fields.collect();
    let Some((last, extra)) = rest.split_last() else {
        return ProtocolError::TruncatedException("the NUL after the message").into();
    };
    let Ok(class) = std::str::from_utf8(class) else {
        return ProtocolError::InvalidUtf8 {
            field: "exception class",
        }
        .into();
    };
    if class.is_empty() {
        return ProtocolError::EmptyField {
            field: "exception class",
        }
        .into();
    }
    if !class
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.')
    {
        return ProtocolError::BadExceptionClass(class.to_owned()).into();
    }
    let message = String::from_utf8_lossy(message).into_owned();
    if class == "PermissionDenied" {
        return Error::AccessDenied(DenyReason::PermissionDenied(message));
    }
    let mut extra: Vec<String> = extra
        .iter()
        .map(|f| String::from_utf8_lossy(f).into_owned())
        .collect();
    // Unterminated trailing bytes are kept too: they are shown, never parsed.
    if !last.is_empty() {
        extra.push(String::from_utf8_lossy(last).into_owned());
    }
    Error::Qubes(QubesError {
        class: class.to_owned(),
        kind: ExceptionKind::from_class(class),
        message,
        traceback: String::from_utf8_lossy(traceback).into_owned(),
        extra,
    })
}

/// One event from `admin.Events`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// The qube the event is about; `None` for events of the application
    /// (empty subject on the wire), e.g. `domain-add`, `connection-established`.
    pub subject: Option<String>,
    /// Event name, e.g. `domain-feature-set:custom-persist.home`.
    pub name: String,
    /// Keyword arguments in wire order. Values are Python `str()` of the
    /// originals (`None` becomes `"None"`).
    pub kwargs: Vec<(String, String)>,
}

impl Event {
    /// The value of a keyword argument.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.kwargs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The artificial first event of every stream: whatever was cached
    /// before must be fetched again.
    pub fn is_connection_established(&self) -> bool {
        self.subject.is_none() && self.name == "connection-established"
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Expecting the type byte of the next frame.
    Type,
    /// Got the type byte of an event, expecting its NUL.
    TypeNul,
    /// Got `2`, expecting its NUL.
    ExceptionNul,
    Subject,
    Name,
    Key,
    Value,
    /// Inside an exception reply: everything until EOF belongs to it.
    Exception,
    /// An error was reported; nothing more is parsed.
    Failed,
}

/// Incremental parser for an `admin.Events` stream: feed bytes as they
/// arrive, get whole events. Each byte is looked at once, so feeding a large
/// stream in tiny pieces stays linear.
#[derive(Debug)]
pub struct EventParser {
    state: State,
    max_frame: usize,
    frame_len: usize,
    field: Vec<u8>,
    subject: Option<String>,
    name: String,
    key: String,
    kwargs: Vec<(String, String)>,
    received_any: bool,
}

impl Default for EventParser {
    fn default() -> Self {
        Self::new()
    }
}

impl EventParser {
    /// A parser with the default frame limit [`MAX_EVENT_FRAME_BYTES`].
    pub fn new() -> Self {
        Self::with_frame_limit(MAX_EVENT_FRAME_BYTES)
    }

    /// A parser that refuses frames longer than `max_frame` bytes.
    pub fn with_frame_limit(max_frame: usize) -> Self {
        EventParser {
            state: State::Type,
            max_frame,
            frame_len: 0,
            field: Vec::new(),
            subject: None,
            name: String::new(),
            key: String::new(),
            kwargs: Vec::new(),
            received_any: false,
        }
    }

    /// Parse `data`, appending complete events to `out`. Events completed
    /// before an error are in `out`; after an error the parser stays failed.
    pub fn feed(&mut self, mut data: &[u8], out: &mut Vec<Event>) -> Result<(), Error> {
        if !data.is_empty() {
            self.received_any = true;
        }
        while !data.is_empty() {
            match self.state {
                State::Failed => return Err(ProtocolError::StreamFailed.into()),
                State::Type => {
                    self.frame_len = 1;
                    self.state = match data[0] {
                        b'1' => State::TypeNul,
                        b'2' => State::ExceptionNul,
                        b'0' => return self.fail(ProtocolError::UnexpectedSuccess.into()),
                        other => {
                            return self.fail(ProtocolError::UnknownReplyType(vec![other]).into());
                        }
                    };
                    data = &data[1..];
                }
                State::TypeNul | State::ExceptionNul => {
                    if data[0] != 0 {
                        let kind = if self.state == State::TypeNul {
                            b'1'
                        } else {
                            b'2'
                        };
                        return self
                            .fail(ProtocolError::UnknownReplyType(vec![kind, data[0]]).into());
                    }
                    self.frame_len += 1;
                    self.state = if self.state == State::TypeNul {
                        State::Subject
                    } else {
                        State::Exception
                    };
                    data = &data[1..];
                }
                State::Exception => {
                    self.grow(data.len())?;
                    self.field.extend_from_slice(data);
                    data = &[];
                }
                State::Subject | State::Name | State::Key | State::Value => {
                    let (piece, complete) = match data.iter().position(|b| *b == 0) {
                        Some(at) => (&data[..at], true),
                        None => (data, false),
                    };
                    self.grow(piece.len() + usize::from(complete))?;
                    self.field.extend_from_slice(piece);
                    data = &data[piece.len() + usize::from(complete)..];
                    if complete && let Some(event) = self.end_field()? {
                        out.push(event);
                    }
                }
            }
        }
        Ok(())
    }

    /// The stream ended (EOF). An exception reply becomes its error; an empty
    /// stream is a denial; a partial event is [`ProtocolError::UnterminatedEvent`].
    pub fn finish(&mut self) -> Result<(), Error> {
        let state = std::mem::replace(&mut self.state, State::Failed);
        match state {
            State::Type if !self.received_any => Err(Error::AccessDenied(DenyReason::EmptyReply)),
            State::Type => {
                self.state = State::Type;
                Ok(())
            }
            State::Exception => Err(parse_exception(&std::mem::take(&mut self.field))),
            State::ExceptionNul => Err(ProtocolError::TruncatedHeader.into()),
            State::Failed => Err(ProtocolError::StreamFailed.into()),
            _ => Err(ProtocolError::UnterminatedEvent(self.frame_len).into()),
        }
    }

    fn fail(&mut self, error: Error) -> Result<(), Error> {
        self.state = State::Failed;
        self.field = Vec::new();
        Err(error)
    }

    fn grow(&mut self, by: usize) -> Result<(), Error> {
        self.frame_len = self.frame_len.saturating_add(by);
        if self.frame_len > self.max_frame {
            let limit = self.max_frame;
            return self.fail(ProtocolError::EventTooLarge { limit }.into());
        }
        Ok(())
    }

    fn take_text(&mut self, field: &'static str) -> Result<String, Error> {
        let bytes = std::mem::take(&mut self.field);
        String::from_utf8(bytes).map_err(|_| {
            self.state = State::Failed;
            ProtocolError::InvalidUtf8 { field }.into()
        })
    }

    /// A NUL ended the current field; returns the event if it is complete.
    fn end_field(&mut self) -> Result<Option<Event>, Error> {
        match self.state {
            State::Subject => {
                let subject = self.take_text("event subject")?;
                self.subject = (!subject.is_empty()).then_some(subject);
                self.state = State::Name;
            }
            State::Name => {
                let name = self.take_text("event name")?;
                if name.is_empty() {
                    return self
                        .fail(
                            ProtocolError::EmptyField {
                                field: "event name",
                            }
                            .into(),
                        )
                        .map(|()| None);
                }
                self.name = name;
                self.state = State::Key;
            }
            State::Key => {
                let key = self.take_text("event argument name")?;
                if key.is_empty() {
                    // The empty key ends the event.
                    self.state = State::Type;
                    self.frame_len = 0;
                    return Ok(Some(Event {
                        subject: self.subject.take(),
                        name: std::mem::take(&mut self.name),
                        kwargs: std::mem::take(&mut self.kwargs),
                    }));
                }
                self.key = key;
                self.state = State::Value;
            }
            State::Value => {
                let value = self.take_text("event argument value")?;
                self.kwargs.push((std::mem::take(&mut self.key), value));
                self.state = State::Key;
            }
            _ => {}
        }
        Ok(None)
    }
}

/// Parse a complete event stream (e.g. a recording) into its events.
pub fn parse_event_stream(stream: &[u8]) -> Result<Vec<Event>, Error> {
    let mut parser = EventParser::new();
    let mut events = Vec::new();
    parser.feed(stream, &mut events)?;
    parser.finish()?;
    Ok(events)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(err: &Error) -> String {
        format!("{err:?}")
    }

    #[test]
    fn ok_reply_with_and_without_data() {
        assert_eq!(parse_reply(b"0\0").unwrap(), b"");
        assert_eq!(parse_reply(b"0\0abc\0def").unwrap(), b"abc\0def");
    }

    #[test]
    fn empty_and_permission_denied_are_access_denied() {
        assert!(matches!(
            parse_reply(b""),
            Err(Error::AccessDenied(DenyReason::EmptyReply))
        ));
        let err = parse_reply(b"2\0PermissionDenied\0\0changing this feature is prohibited\0")
            .unwrap_err();
        assert!(matches!(
            err,
            Error::AccessDenied(DenyReason::PermissionDenied(ref m)) if m == "changing this feature is prohibited"
        ));
    }

    #[test]
    fn exceptions_keep_class_message_and_extra_fields() {
        let err = parse_reply(
            b"2\0QubesFeatureNotFoundError\0\0Feature not set for domain personal: x\0",
        )
        .unwrap_err();
        let Error::Qubes(e) = err else {
            panic!("{err:?}")
        };
        assert_eq!(e.kind, ExceptionKind::FeatureNotFound);
        assert_eq!(e.class, "QubesFeatureNotFoundError");
        assert_eq!(e.message, "Feature not set for domain personal: x");
        assert!(e.extra.is_empty());

        let err = parse_reply(b"2\0QubesWeirdError\0tb\0msg\0a\0b\0").unwrap_err();
        let Error::Qubes(e) = err else {
            panic!("{err:?}")
        };
        assert_eq!(e.kind, ExceptionKind::Other);
        assert_eq!(e.traceback, "tb");
        assert_eq!(e.extra, vec!["a".to_owned(), "b".to_owned()]);
    }

    #[test]
    fn every_qubesd_exception_class_maps_to_its_kind() {
        let classes: &[(&str, ExceptionKind)] = &[
            ("QubesVMNotFoundError", ExceptionKind::VmNotFound),
            ("QubesFeatureNotFoundError", ExceptionKind::FeatureNotFound),
            ("QubesTagNotFoundError", ExceptionKind::TagNotFound),
            ("QubesLabelNotFoundError", ExceptionKind::LabelNotFound),
            ("QubesNoSuchPropertyError", ExceptionKind::NoSuchProperty),
            ("QubesValueError", ExceptionKind::Value),
            ("QubesPropertyValueError", ExceptionKind::PropertyValue),
            ("QubesInvalidTagError", ExceptionKind::InvalidTag),
            ("QubesInvalidLabelError", ExceptionKind::InvalidLabel),
            (
                "QubesInvalidLabelValueError",
                ExceptionKind::InvalidLabelValue,
            ),
            ("ProtocolError", ExceptionKind::Protocol),
            ("QubesVMNotRunningError", ExceptionKind::VmNotRunning),
            ("QubesVMNotHaltedError", ExceptionKind::VmNotHalted),
            ("QubesVMNotStartedError", ExceptionKind::VmNotStarted),
            ("QubesVMError", ExceptionKind::VmError),
            ("QubesVMInvalidUUIDError", ExceptionKind::VmInvalidUuid),
            ("QubesVMAlreadyExistsError", ExceptionKind::VmAlreadyExists),
            ("QubesVMInUseError", ExceptionKind::VmInUse),
            ("QubesNoTemplateError", ExceptionKind::NoTemplate),
            ("QubesNotImplementedError", ExceptionKind::NotImplemented),
            ("QubesMemoryError", ExceptionKind::Memory),
            ("QubesException", ExceptionKind::Generic),
            ("QubesPoolInUseError", ExceptionKind::Other),
            ("BackupCancelledError", ExceptionKind::Other),
        ];
        for (class, kind) in classes {
            let reply = format!("2\0{class}\0\0some message\0");
            match parse_reply(reply.as_bytes()) {
                Err(Error::Qubes(e)) => {
                    assert_eq!(&e.kind, kind, "{class}");
                    assert_eq!(e.class, *class);
                    assert_eq!(e.message, "some message");
                }
                other => panic!("{class}: {other:?}"),
            }
        }
        // PermissionDenied is not a Qubes exception: it is "access denied".
        assert!(matches!(
            parse_reply(b"2\0PermissionDenied\0\0\0"),
            Err(Error::AccessDenied(DenyReason::PermissionDenied(_)))
        ));
    }

    #[test]
    fn truncated_and_garbage_replies_are_typed_errors() {
        for reply in [
            &b"0"[..],
            b"2",
            b"2\0",
            b"2\0Cls",
            b"2\0Cls\0",
            b"2\0Cls\0\0msg-without-nul",
            b"2\0\0\0msg\0",
            b"2\0bad class\0\0m\0",
            b"2\0\xff\0\0m\0",
            b"1\0\0connection-established\0\0",
            b"3\0",
            b"00",
            b"\0\0",
            b"x",
        ] {
            let err = parse_reply(reply).unwrap_err();
            assert!(
                matches!(err, Error::Protocol(_)),
                "{reply:?} -> {}",
                kind(&err)
            );
        }
    }

    #[test]
    fn oversized_reply_is_refused() {
        let mut big = b"0\0".to_vec();
        big.resize(MAX_REPLY_BYTES + 1, b'x');
        assert!(matches!(
            parse_reply(&big),
            Err(Error::Protocol(ProtocolError::ReplyTooLarge { .. }))
        ));
    }

    #[test]
    fn events_with_and_without_kwargs_and_app_level() {
        let stream = b"1\0\0connection-established\0\0\
            1\0some-vm\0some-event\0arg1\0value1\0\0\
            1\0\0domain-add\0vm\0new\0\0\
            1\0work\0domain-feature-set:x\0feature\0x\0value\0\0oldvalue\0None\0\0";
        let events = parse_event_stream(stream).unwrap();
        assert_eq!(events.len(), 4);
        assert!(events[0].is_connection_established());
        assert!(events[0].kwargs.is_empty());
        assert_eq!(events[1].subject.as_deref(), Some("some-vm"));
        assert_eq!(events[1].get("arg1"), Some("value1"));
        assert_eq!(events[2].subject, None);
        assert_eq!(events[2].get("vm"), Some("new"));
        assert_eq!(events[3].get("value"), Some(""));
        assert_eq!(events[3].get("oldvalue"), Some("None"));
    }

    #[test]
    fn byte_by_byte_feeding_gives_the_same_events() {
        let stream = b"1\0\0connection-established\0\0\x31\0vm\0e\0k\0v\0k2\0\0\0";
        let whole = parse_event_stream(stream).unwrap();
        let mut parser = EventParser::new();
        let mut events = Vec::new();
        for byte in stream.iter() {
            parser
                .feed(std::slice::from_ref(byte), &mut events)
                .unwrap();
        }
        parser.finish().unwrap();
        assert_eq!(events, whole);
    }

    #[test]
    fn stream_errors() {
        assert!(matches!(
            parse_event_stream(b""),
            Err(Error::AccessDenied(DenyReason::EmptyReply))
        ));
        assert!(matches!(
            parse_event_stream(b"2\0QubesVMNotFoundError\0\0No such domain: 'x'\0"),
            Err(Error::Qubes(QubesError {
                kind: ExceptionKind::VmNotFound,
                ..
            }))
        ));
        assert!(matches!(
            parse_event_stream(b"2\0PermissionDenied\0\0no\0"),
            Err(Error::AccessDenied(_))
        ));
        for bad in [
            &b"1\0vm\0event\0key\0"[..],
            b"1\0vm\0ev",
            b"1",
            b"1\0\0connection-established\0\0\x31\0",
            b"0\0",
            b"1\0vm\0\0",
            b"1x",
            b"9",
            b"1\0\xff\0e\0\0",
        ] {
            let err = parse_event_stream(bad).unwrap_err();
            assert!(
                matches!(err, Error::Protocol(_)),
                "{bad:?} -> {}",
                kind(&err)
            );
        }
    }

    #[test]
    fn oversized_event_frame_is_refused_early() {
        let mut parser = EventParser::with_frame_limit(64);
        let mut events = Vec::new();
        parser.feed(b"1\0vm\0e\0\0", &mut events).unwrap();
        assert_eq!(events.len(), 1);
        let long = vec![b'a'; 100];
        let err = parser
            .feed(b"1\0vm\0", &mut events)
            .and_then(|()| parser.feed(&long, &mut events));
        assert!(matches!(
            err,
            Err(Error::Protocol(ProtocolError::EventTooLarge { limit: 64 }))
        ));
        // Failed for good.
        assert!(parser.feed(b"1\0vm\0e\0\0", &mut events).is_err());
        assert_eq!(events.len(), 1);
    }
}
