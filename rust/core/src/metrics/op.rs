//! The operations counted, and their names in metrics and in the log.

use crate::meta::ByteRange;

/// The operations counted (and logged: the command line reads logs with it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Op {
    /// A whole object read.
    Get,
    /// A range of an object read.
    GetRange,
    /// An object written (a multipart upload: its whole size).
    Put,
    /// One part of a multipart upload.
    PutPart,
    /// A listing.
    List,
    /// An object's metadata read.
    Head,
    /// An object deleted.
    Delete,
}

impl Op {
    /// Every operation, in table order.
    pub const ALL: [Op; 7] = [
        Op::Get,
        Op::GetRange,
        Op::Put,
        Op::PutPart,
        Op::List,
        Op::Head,
        Op::Delete,
    ];

    /// The name in metrics: `get`, `get_range`, ...
    pub fn name(self) -> &'static str {
        match self {
            Op::Get => "get",
            Op::GetRange => "get_range",
            Op::Put => "put",
            Op::PutPart => "put_part",
            Op::List => "list",
            Op::Head => "head",
            Op::Delete => "delete",
        }
    }

    /// The name in the operation log: `GET`, `GET_RANGE`, ...
    pub fn log_name(self) -> &'static str {
        match self {
            Op::Get => "GET",
            Op::GetRange => "GET_RANGE",
            Op::Put => "PUT",
            Op::PutPart => "PUT_PART",
            Op::List => "LIST",
            Op::Head => "HEAD",
            Op::Delete => "DELETE",
        }
    }

    /// The operation a log line names (`GET`, ...), if any.
    pub fn from_log_name(name: &str) -> Option<Op> {
        Op::ALL.into_iter().find(|op| op.log_name() == name)
    }

    /// A read of `range`: `Get` for a whole object, else `GetRange`.
    pub(crate) fn read(range: ByteRange) -> Op {
        match range.is_full() {
            true => Op::Get,
            false => Op::GetRange,
        }
    }
}
