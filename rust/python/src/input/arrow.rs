//! Arrow given to s3dlio: `put_many` input as any object of the Arrow
//! PyCapsule interface (`__arrow_c_array__` or `__arrow_c_stream__`: a
//! pyarrow array, chunked array, record batch or table, a polars frame, a
//! s3dlio `Batch` or `Table`), imported through pyo3-arrow (`PyArray` for
//! `__arrow_c_array__`, `PyArrayReader` for `__arrow_c_stream__`; both take
//! the producer's buffers over as they are). Every payload is a slice of
//! the producer's own buffer, which the slice keeps alive: no value is
//! copied, into Python `bytes` or anywhere else, before the store writes it.

use arrow_array::cast::AsArray;
use arrow_array::types::{ByteArrayType, ByteViewType};
use arrow_array::{Array, ArrayRef, GenericByteArray, GenericByteViewArray};
use arrow_buffer::{ArrowNativeType, Buffer};
use arrow_schema::{ArrowError, DataType};
use bytes::Bytes;
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3_arrow::{PyArray, PyArrayReader};

use crate::errors::invalid_argument;

/// True when `obj` speaks the Arrow PyCapsule interface.
pub fn is_arrow(obj: &Bound<'_, PyAny>) -> PyResult<bool> {
    Ok(obj.hasattr("__arrow_c_array__")? || obj.hasattr("__arrow_c_stream__")?)
}

/// The `(uri, payload)` rows of Arrow tabular input: columns `uri`
/// (string, large_string or string_view) and `data` (binary, large_binary,
/// binary_view or fixed_size_binary); other columns are ignored.
pub fn put_items(obj: &Bound<'_, PyAny>) -> PyResult<Vec<(String, Bytes)>> {
    let mut items = Vec::new();
    for chunk in import(obj)? {
        let Some(table) = chunk.as_struct_opt() else {
            return Err(PyTypeError::new_err(format!(
                "put_many: Arrow input must be a table or record batch with columns \
                 uri and data, got an array of {} (give it as data=, with the URIs first)",
                chunk.data_type()
            )));
        };
        let column = |name: &str| {
            table.column_by_name(name).ok_or_else(|| {
                let names: Vec<_> = table.column_names();
                PyTypeError::new_err(format!(
                    "put_many: Arrow input has no column {name:?} (columns: {names:?})"
                ))
            })
        };
        let uris = rows(column("uri")?.as_ref(), "uri")?;
        let payloads = rows(column("data")?.as_ref(), "data")?;
        let first = items.len();
        for (i, (uri, payload)) in uris.into_iter().zip(payloads).enumerate() {
            let row = first + i;
            let uri =
                uri.ok_or_else(|| invalid_argument(format!("put_many: row {row}: uri is null")))?;
            let uri = String::from_utf8(uri.to_vec())
                .map_err(|_| invalid_argument(format!("put_many: row {row}: uri is not UTF-8")))?;
            let payload = payload
                .ok_or_else(|| invalid_argument(format!("{uri}: put_many: its data is null")))?;
            items.push((uri, payload));
        }
    }
    Ok(items)
}

/// The values of an Arrow binary array (or chunked array) given as `data=`,
/// paired with `uris` in order.
pub fn put_payloads(uris: Vec<String>, data: &Bound<'_, PyAny>) -> PyResult<Vec<(String, Bytes)>> {
    let mut payloads = Vec::with_capacity(uris.len());
    for chunk in import(data)? {
        payloads.extend(rows(chunk.as_ref(), "data")?);
    }
    if payloads.len() != uris.len() {
        return Err(invalid_argument(format!(
            "put_many: {} URIs but {} data values",
            uris.len(),
            payloads.len()
        )));
    }
    uris.into_iter()
        .zip(payloads)
        .map(|(uri, payload)| match payload {
            Some(payload) => Ok((uri, payload)),
            None => Err(invalid_argument(format!(
                "{uri}: put_many: its data is null"
            ))),
        })
        .collect()
}

fn arrow_err(e: ArrowError) -> PyErr {
    invalid_argument(format!("Arrow import failed: {e}"))
}

/// The arrays (one per chunk) of an Arrow PyCapsule object, preferring the
/// single array when it offers both.
fn import(obj: &Bound<'_, PyAny>) -> PyResult<Vec<ArrayRef>> {
    if obj.hasattr("__arrow_c_array__")? {
        let (array, _field) = obj.extract::<PyArray>()?.into_inner();
        return Ok(vec![array]);
    }
    if !obj.hasattr("__arrow_c_stream__")? {
        return Err(PyTypeError::new_err(format!(
            "put_many: expected Arrow input (an object with __arrow_c_array__ or \
             __arrow_c_stream__, such as a pyarrow array or table), got {}",
            obj.get_type().name()?
        )));
    }
    obj.extract::<PyArrayReader>()?
        .into_reader()?
        .collect::<Result<Vec<_>, _>>()
        .map_err(arrow_err)
}

/// Each row of a byte-like array (binary or string, of any offset width,
/// views, or fixed size) as a slice of the array's own buffers; None for a
/// null row. `what` names the column in errors.
fn rows(array: &dyn Array, what: &str) -> PyResult<Vec<Option<Bytes>>> {
    match array.data_type() {
        DataType::Binary => offset_rows(array.as_binary::<i32>()),
        DataType::LargeBinary => offset_rows(array.as_binary::<i64>()),
        DataType::Utf8 => offset_rows(array.as_string::<i32>()),
        DataType::LargeUtf8 => offset_rows(array.as_string::<i64>()),
        DataType::BinaryView => view_rows(array.as_binary_view()),
        DataType::Utf8View => view_rows(array.as_string_view()),
        DataType::FixedSizeBinary(width) => {
            let array = array.as_fixed_size_binary();
            let values = shared(array.values().clone());
            let width = *width as usize;
            (0..array.len())
                .map(|i| {
                    array
                        .is_valid(i)
                        .then(|| slice(&values, i * width, width))
                        .transpose()
                })
                .collect()
        }
        other => Err(PyTypeError::new_err(format!(
            "put_many: Arrow column {what} must be binary or string, got {other}"
        ))),
    }
}

fn offset_rows<T: ByteArrayType>(array: &GenericByteArray<T>) -> PyResult<Vec<Option<Bytes>>> {
    let values = shared(array.values().clone());
    array
        .value_offsets()
        .windows(2)
        .enumerate()
        .map(|(i, w)| {
            let (start, end) = (w[0].as_usize(), w[1].as_usize());
            array
                .is_valid(i)
                .then(|| slice(&values, start, end.saturating_sub(start)))
                .transpose()
        })
        .collect()
}

/// A view is 16 bytes: the length (u32), then up to 12 bytes inline, or a
/// 4-byte prefix, the data buffer's index (u32) and the offset in it (u32).
fn view_rows<T: ByteViewType + ?Sized>(
    array: &GenericByteViewArray<T>,
) -> PyResult<Vec<Option<Bytes>>> {
    let views = shared(array.views().inner().clone());
    let buffers: Vec<Bytes> = array.data_buffers().iter().cloned().map(shared).collect();
    let out_of_range = || invalid_argument("Arrow import: a view names a missing buffer".into());
    array
        .views()
        .iter()
        .enumerate()
        .map(|(i, &view)| {
            if array.is_null(i) {
                return Ok(None);
            }
            let len = view as u32 as usize;
            if len <= 12 {
                return slice(&views, i * 16 + 4, len).map(Some);
            }
            let buffer = buffers
                .get((view >> 64) as u32 as usize)
                .ok_or_else(out_of_range)?;
            slice(buffer, (view >> 96) as u32 as usize, len).map(Some)
        })
        .collect()
}

/// An Arrow buffer as `Bytes` over the same memory (it keeps the buffer,
/// and through it the producer's allocation, alive).
fn shared(buffer: Buffer) -> Bytes {
    Bytes::from_owner(Owned(buffer))
}

/// An Arrow buffer as the owner of a `Bytes` (arrow 59's `Buffer` has no
/// `AsRef<[u8]>` of its own).
struct Owned(Buffer);

impl AsRef<[u8]> for Owned {
    fn as_ref(&self) -> &[u8] {
        self.0.as_slice()
    }
}

/// `len` bytes of `bytes` from `start`, or an error when the producer's
/// offsets point outside its buffer.
fn slice(bytes: &Bytes, start: usize, len: usize) -> PyResult<Bytes> {
    match start.checked_add(len) {
        Some(end) if end <= bytes.len() => Ok(bytes.slice(start..end)),
        _ => Err(invalid_argument(format!(
            "Arrow import: a value ({len} bytes at {start}) lies outside its {}-byte buffer",
            bytes.len()
        ))),
    }
}
