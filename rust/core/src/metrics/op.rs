//! The operations counted, and their names in metrics and in the log.

use crate::meta::ByteRange;

/// The operations counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Op {
    Get,
    GetRange,
    Put,
    PutPart,
    List,
    Head,
    Delete,
}

impl Op {
    pub(crate) const ALL: [Op; 7] = [
        Op::Get,
        Op::GetRange,
        Op::Put,
        Op::PutPart,
        Op::List,
        Op::Head,
        Op::Delete,
    ];

    /// The name in metrics: `get`, `get_range`, ...
    pub(crate) fn name(self) -> &'static str {
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
    pub(crate) fn log_name(self) -> &'static str {
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

    /// A read of `range`: `Get` for a whole object, else `GetRange`.
    pub(crate) fn read(range: ByteRange) -> Op {
        match range.is_full() {
            true => Op::Get,
            false => Op::GetRange,
        }
    }
}
