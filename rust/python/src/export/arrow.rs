//! Arrow export (`__arrow_c_array__`, `__arrow_c_stream__`): arrays whose
//! value buffers are the fetched `Bytes` themselves
//! (`arrow_buffer::Buffer::from(Bytes)` does not copy). Building the arrays
//! is ours; the capsules are pyo3-arrow's (`to_array_pycapsules`,
//! `to_stream_pycapsule`), which move the arrays' buffers into the C data
//! interface as they are. `requested_schema` is not passed on: the natural
//! type is always exported, since a cast would copy the memory.

use std::sync::Arc;

use arrow_array::{
    Array, ArrayRef, BinaryArray, Int64Array, LargeBinaryArray, RecordBatch, StringArray,
    StructArray, UInt8Array,
};
use arrow_buffer::{Buffer, OffsetBuffer, ScalarBuffer};
use arrow_schema::{ArrowError, Field, Schema, SchemaRef};
use bytes::Bytes;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyCapsule, PyTuple};
use pyo3_arrow::ffi::{to_array_pycapsules, to_stream_pycapsule, ArrayIterator};

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
pub fn array_capsules<'py>(py: Python<'py>, array: &dyn Array) -> PyResult<Bound<'py, PyTuple>> {
    let field = Arc::new(Field::new("", array.data_type().clone(), true));
    Ok(to_array_pycapsules(py, field, array, None)?)
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

/// An `arrow_array_stream` capsule yielding `batch` once (as a struct
/// array, the form of a record batch in the C stream interface).
pub fn stream_capsule(
    py: Python<'_>,
    schema: SchemaRef,
    batches: Vec<RecordBatch>,
) -> PyResult<Bound<'_, PyCapsule>> {
    let field = Field::new_struct("", schema.fields().clone(), false)
        .with_metadata(schema.metadata().clone());
    let arrays = batches
        .into_iter()
        .map(|batch| Ok(Arc::new(StructArray::from(batch)) as ArrayRef))
        .collect::<Vec<_>>();
    let reader = ArrayIterator::new(arrays, Arc::new(field));
    Ok(to_stream_pycapsule(py, Box::new(reader), None)?)
}
