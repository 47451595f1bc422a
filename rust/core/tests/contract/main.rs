//! One object contract, five backends: every check in `checks.rs`
//! runs on `file://`, `direct://`, `s3://` (moto), `az://` (Azurite) and
//! `gs://` (fake-gcs-server), as object_store's `integration.rs` runs one
//! set of functions on each of its stores. Known differences between the
//! backends are written down in `backend.rs`.
//!
//! `cargo test` runs the two local backends. The emulator ones are
//! `#[ignore]`d with the reason (they need servers, and a bucket named in
//! the environment); `tests/test_rust_contract.py` starts the servers and
//! runs this binary with `--include-ignored`, checking that every check ran
//! on all five backends. By hand, with the emulators up:
//!
//! ```text
//! CONTRACT_S3_BUCKET=b AWS_ENDPOINT_URL=http://127.0.0.1:PORT \
//! CONTRACT_AZ_CONTAINER=c AZURITE_BLOB_STORAGE_URL=http://127.0.0.1:PORT \
//! AZURE_STORAGE_USE_EMULATOR=true AZURE_STORAGE_ACCOUNT_NAME=devstoreaccount1 \
//! CONTRACT_GS_BUCKET=g STORAGE_EMULATOR_HOST=http://127.0.0.1:PORT \
//!     cargo test --release -p s3dlio-core --test contract -- --include-ignored
//! ```
//!
//! (with the credential and metadata guards of `tests/conftest.py` set).

mod backend;
mod checks;
mod gcs_seed;

/// Calls `$callback!($($args)*; check, check, ...)` with every check once,
/// so that each backend's module holds the same tests, by name.
macro_rules! with_every_check {
    ($callback:ident!($($args:tt)*)) => {
        $callback!($($args)*;
            get_round_trip,
            put_round_trip,
            put_many_round_trip,
            overwrite_replaces,
            zero_byte_object,
            range_edges,
            large_object_in_parts,
            get_many_order_and_duplicates,
            get_many_names_the_missing_uri,
            get_ranges_order_edges_and_errors,
            list_prefixes_and_nested_keys,
            list_is_sorted,
            stat_and_missing_objects,
            stat_agrees_with_list_meta,
            exists_true_and_false,
            prefix_is_not_an_object,
            delete_and_delete_missing,
            missing_container,
            awkward_keys
        );
    };
}

/// One `#[test]` per check on a backend that needs nothing but a disk.
macro_rules! local_tests {
    ($make:path; $($check:ident),+) => {
        $(
            #[test]
            fn $check() {
                crate::checks::$check(&$make(stringify!($check)));
            }
        )+
    };
}

/// One `#[test]` per check on an emulator, ignored (with `$reason`) unless
/// asked for: a plain `cargo test` says it did not run them.
macro_rules! emulator_tests {
    ($make:path, $reason:literal; $($check:ident),+) => {
        $(
            #[test]
            #[ignore = $reason]
            fn $check() {
                crate::checks::$check(&$make(stringify!($check)));
            }
        )+
    };
}

mod file {
    with_every_check!(local_tests!(crate::backend::Backend::file));
}

mod direct {
    with_every_check!(local_tests!(crate::backend::Backend::direct));
}

mod s3 {
    with_every_check!(emulator_tests!(
        crate::backend::Backend::s3,
        "needs moto: run by tests/test_rust_contract.py"
    ));
}

mod az {
    with_every_check!(emulator_tests!(
        crate::backend::Backend::azure,
        "needs Azurite: run by tests/test_rust_contract.py"
    ));
}

mod gs {
    with_every_check!(emulator_tests!(
        crate::backend::Backend::gcs,
        "needs fake-gcs-server: run by tests/test_rust_contract.py"
    ));
}
