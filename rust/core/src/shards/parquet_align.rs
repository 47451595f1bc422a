//! Fixed-width columns of decoded Parquet batches on 64-byte boundaries,
//! as the Arrow format recommends, so that they can be tensors for any
//! consumer without a copy (XLA, behind `jax.numpy.from_dlpack`, copies
//! what is not 64-byte aligned).
//!
//! The `parquet` crate hands a plain-encoded column out as a slice of its
//! decompressed page, which starts wherever the page's level data ends:
//! for pyarrow's files, 16 or 48 bytes past a 64-byte boundary in most row
//! groups. Such a column is copied once into an aligned buffer here, on
//! the runtime worker that decoded it; one that is aligned is kept as is.

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::{make_array, Array, ArrayRef, FixedSizeListArray, RecordBatch};
use arrow_buffer::Buffer;
use arrow_data::ArrayData;
use arrow_schema::{ArrowError, DataType};

/// The boundary every fixed-width column's values start on.
pub(crate) const ALIGN: usize = 64;

/// `batch` with every fixed-width column (and fixed-size list of them) aligned.
pub(crate) fn align_batch(batch: RecordBatch) -> Result<RecordBatch, ArrowError> {
    if batch.columns().iter().all(|c| is_aligned(c.as_ref())) {
        return Ok(batch);
    }
    let columns = batch
        .columns()
        .iter()
        .map(|c| align(c.clone()))
        .collect::<Result<Vec<_>, _>>()?;
    RecordBatch::try_new(batch.schema(), columns)
}

/// Where a fixed-width array's first value is, or `None` for other types.
fn values_at(array: &dyn Array) -> Option<usize> {
    let width = array.data_type().primitive_width()?;
    let data = array.to_data();
    Some(data.buffers()[0].as_ptr() as usize + data.offset() * width)
}

fn is_aligned(array: &dyn Array) -> bool {
    match array.data_type() {
        DataType::FixedSizeList(..) => {
            let list = array.as_fixed_size_list();
            is_aligned(list_values(list).as_ref())
        }
        _ => values_at(array).is_none_or(|at| at % ALIGN == 0),
    }
}

/// The values of `list`'s rows (the child, cut to them).
fn list_values(list: &FixedSizeListArray) -> ArrayRef {
    let width = list.value_length().max(0) as usize;
    let start = list.value_offset(0).max(0) as usize;
    list.values().slice(start, list.len() * width)
}

fn align(array: ArrayRef) -> Result<ArrayRef, ArrowError> {
    if is_aligned(array.as_ref()) {
        return Ok(array);
    }
    if let DataType::FixedSizeList(field, width) = array.data_type() {
        let list = array.as_fixed_size_list();
        let values = align(list_values(list))?;
        let nulls = list.nulls().cloned();
        return Ok(Arc::new(FixedSizeListArray::try_new(
            field.clone(),
            *width,
            values,
            nulls,
        )?));
    }
    let data = array.to_data();
    let width = data
        .data_type()
        .primitive_width()
        .expect("only fixed-width arrays are unaligned");
    let start = data.offset() * width;
    let bytes = &data.buffers()[0].as_slice()[start..start + data.len() * width];
    // A new Buffer is allocated on arrow's boundary (64 or 128 bytes).
    let copied = Buffer::from_slice_ref(bytes);
    let aligned = ArrayData::builder(data.data_type().clone())
        .len(data.len())
        .add_buffer(copied)
        .nulls(data.nulls().cloned())
        .build()?;
    Ok(make_array(aligned))
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{Float32Array, Int32Array};
    use arrow_buffer::ScalarBuffer;
    use arrow_schema::{Field, Schema};

    fn unaligned_ints(n: usize) -> ArrayRef {
        // A slice 4 bytes into an aligned buffer starts off the boundary.
        let whole = Int32Array::from_iter_values(0..n as i32 + 1);
        Arc::new(whole.slice(1, n))
    }

    #[test]
    fn unaligned_columns_are_copied_aligned_and_aligned_ones_kept() {
        let ints = unaligned_ints(10);
        assert_ne!(values_at(ints.as_ref()).unwrap() % ALIGN, 0);
        // Values copied into a new arrow Buffer start on its boundary (a
        // Vec's, from `from_iter_values`, need not).
        let values: Vec<f32> = (0..10).map(|i| i as f32).collect();
        let floats: ArrayRef = Arc::new(Float32Array::new(
            ScalarBuffer::new(Buffer::from_slice_ref(&values), 0, values.len()),
            None,
        ));
        let kept = values_at(floats.as_ref()).unwrap();
        assert_eq!(kept % ALIGN, 0);
        let schema = Arc::new(Schema::new(vec![
            Field::new("i", DataType::Int32, false),
            Field::new("f", DataType::Float32, false),
        ]));
        let batch = RecordBatch::try_new(schema, vec![ints.clone(), floats]).unwrap();
        let out = align_batch(batch).unwrap();
        assert_eq!(values_at(out.column(0).as_ref()).unwrap() % ALIGN, 0);
        assert_eq!(out.column(0).as_ref(), ints.as_ref(), "the same values");
        assert_eq!(
            values_at(out.column(1).as_ref()).unwrap(),
            kept,
            "not copied"
        );
    }

    #[test]
    fn a_fixed_size_list_gets_aligned_values() {
        let values = unaligned_ints(12);
        let field = Arc::new(Field::new("item", DataType::Int32, false));
        let list: ArrayRef = Arc::new(FixedSizeListArray::try_new(field, 3, values, None).unwrap());
        assert!(!is_aligned(list.as_ref()));
        let out = align(list.clone()).unwrap();
        assert!(is_aligned(out.as_ref()));
        assert_eq!(out.as_ref(), list.as_ref());
    }
}
