//! One error type for the library: a message that names the file, field or tensor at fault.

use std::fmt;

/// What kind of fault an error is: the browser facade's `code` and the CLI's exit status come from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Anything not classified below: bad arguments, texts, options and data files.
    Input,
    /// A model or checkpoint file that does not parse or does not match its config.
    BadFile,
    /// A model or batch larger than the adapter's limits or the memory available.
    Limits,
    /// The GPU, its driver or the graphics API failed.
    Gpu,
    /// No GPU adapter or device could be opened.
    NoAdapter,
}

/// An error message that names the file, field or tensor at fault, with its kind.
#[derive(Debug, Clone, PartialEq)]
pub struct Error {
    pub kind: ErrorKind,
    pub message: String,
}

impl Error {
    /// An error of kind [`ErrorKind::Input`].
    pub fn new(message: impl Into<String>) -> Error {
        Error {
            kind: ErrorKind::Input,
            message: message.into(),
        }
    }

    /// An error of the given kind.
    pub fn of(kind: ErrorKind, message: impl Into<String>) -> Error {
        Error {
            kind,
            message: message.into(),
        }
    }

    /// An `Input` error as `BadFile` (the content of a file is at fault); other kinds stay.
    pub fn in_file(self) -> Error {
        match self.kind {
            ErrorKind::Input => self.with_kind(ErrorKind::BadFile),
            _ => self,
        }
    }

    /// The same message as another kind.
    pub fn with_kind(self, kind: ErrorKind) -> Error {
        Error { kind, ..self }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

pub type Result<T> = std::result::Result<T, Error>;

/// `bail!("tensor {name}: expected {a}, found {b}")` returns an `Err(Error)` of kind `Input` from the
/// current function.
#[macro_export]
macro_rules! bail {
    ($($arg:tt)*) => { return Err($crate::Error::new(format!($($arg)*))) };
}

/// Adds context in front of an error message: `.context("config.json")?`.
pub trait Context<T> {
    fn context(self, what: impl fmt::Display) -> Result<T>;
}

impl<T, E: fmt::Display + 'static> Context<T> for std::result::Result<T, E> {
    /// Keeps the kind of an [`Error`]; any other error becomes [`ErrorKind::Input`].
    fn context(self, what: impl fmt::Display) -> Result<T> {
        self.map_err(|e| Error::of(kind_of(&e), format!("{what}: {e}")))
    }
}

/// The kind of `e` if it is an [`Error`], else [`ErrorKind::Input`].
pub fn kind_of<E: 'static>(e: &E) -> ErrorKind {
    (e as &dyn std::any::Any)
        .downcast_ref::<Error>()
        .map_or(ErrorKind::Input, |e| e.kind)
}

/// The first `max_chars` characters of `text` and whether anything was cut after them: what an error
/// message shows of an input.
pub fn cut_for_message(text: &str, max_chars: usize) -> (&str, bool) {
    match text.char_indices().nth(max_chars) {
        Some((cut, _)) => (&text[..cut], true),
        None => (text, false),
    }
}
