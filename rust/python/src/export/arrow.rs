//! Arrow C data/stream interface export (`__arrow_c_array__`,
//! `__arrow_c_stream__`): arrays whose value buffers are the fetched
//! `Bytes` themselves (`arrow_buffer::Buffer::from(Bytes)` does not copy).
//!
//! Written over arrow-array's FFI rather than pyo3-arrow: the newest
//! pyo3-arrow (0.20.0, the first for pyo3 0.30) is built on arrow 59, and
//! this workspace is on arrow 60. The capsule handling is here and in
//! `crate::input::arrow`, to be replaced together when a release fits.

use std::sync::Arc;

use arrow_array::ffi::{to_ffi, FFI_ArrowArray, FFI_ArrowSchema};
use arrow_array::ffi_stream::FFI_ArrowArrayStream;
use arrow_array::{
    Array, ArrayRef, BinaryArray, Int64Array, LargeBinaryArray, RecordBatch, RecordBatchIterator,
    StringArray, UInt8Array,
};
use arrow_buffer::{Buffer, OffsetBuffer, ScalarBuffer};
use arrow_schema::{ArrowError, Field, Schema};
use bytes::Bytes;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyCapsule;

fn arrow_err(e: ArrowError) -> PyErr {
    PyValueError::new_err(format!("Arrow export failed: {e}"))
}

/// A uint8 array over `bytes` (no copy).
pub fn uint8_array(bytes: Bytes) -> ArrayRef {
    let len = bytes.len();
    Arc::new(UInt8Array::new(
        ScalarBuffer::new(Buffer::from(bytes), 0, len),
        None,
    ))
}

/// A binary array of the objects `data[offsets[i]..offsets[i+1]]` (no copy
/// of `data`); large_binary when the values exceed 2 GiB.
pub fn binary_array(data: Bytes, offsets: &[u64]) -> ArrayRef {
    let values = Buffer::from(data);
    let total = offsets.last().copied().unwrap_or(0);
    if total <= i32::MAX as u64 {
        let offsets: Vec<i32> = offsets.iter().map(|&o| o as i32).collect();
        Arc::new(BinaryArray::new(
            OffsetBuffer::new(ScalarBuffer::from(offsets)),
            values,
            None,
        ))
    } else {
        let offsets: Vec<i64> = offsets.iter().map(|&o| o as i64).collect();
        Arc::new(LargeBinaryArray::new(
            OffsetBuffer::new(ScalarBuffer::from(offsets)),
            values,
            None,
        ))
    }
}

/// The `(schema, array)` capsule pair of the Arrow PyCapsule interface.
pub fn array_capsules<'py>(
    py: Python<'py>,
    array: &dyn Array,
) -> PyResult<(Bound<'py, PyCapsule>, Bound<'py, PyCapsule>)> {
    let (ffi_array, ffi_schema): (FFI_ArrowArray, FFI_ArrowSchema) =
        to_ffi(&array.to_data()).map_err(arrow_err)?;
    let schema = PyCapsule::new_with_value(py, ffi_schema, c"arrow_schema")?;
    let array = PyCapsule::new_with_value(py, ffi_array, c"arrow_array")?;
    Ok((schema, array))
}

/// The table of a batch: columns `uri` (string), `size` (int64), `data`
/// (binary over the batch's memory), one row per object.
pub fn table_batch(uris: &[String], offsets: &[u64], data: Bytes) -> PyResult<RecordBatch> {
    let sizes: Int64Array = offsets.windows(2).map(|w| (w[1] - w[0]) as i64).collect();
    let data = binary_array(data, offsets);
    let schema = Schema::new(vec![
        Field::new("uri", arrow_schema::DataType::Utf8, false),
        Field::new("size", arrow_schema::DataType::Int64, false),
        Field::new("data", data.data_type().clone(), false),
    ]);
    RecordBatch::try_new(
        Arc::new(schema),
        vec![
            Arc::new(StringArray::from_iter_values(uris)),
            Arc::new(sizes),
            data,
        ],
    )
    .map_err(arrow_err)
}

/// An `arrow_array_stream` capsule yielding `batch` once.
pub fn stream_capsule(py: Python<'_>, batch: RecordBatch) -> PyResult<Bound<'_, PyCapsule>> {
    let schema = batch.schema();
    let reader = RecordBatchIterator::new(vec![Ok(batch)], schema);
    let stream = FFI_ArrowArrayStream::new(Box::new(reader));
    PyCapsule::new_with_value(py, stream, c"arrow_array_stream")
}
