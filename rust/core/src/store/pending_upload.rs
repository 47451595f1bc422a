//! A multipart upload that nobody leaves open.
//!
//! Stores keep, and bill for, the parts of an upload until it is completed
//! or aborted. [`PendingUpload`] aborts on every path that does not
//! complete: a failed part, a failed completion, and a future dropped
//! mid-upload (Ctrl-C, a failing sibling in `put_many`), the last through
//! [`runtime::spawn_cleanup`], which blocking calls wait for.

use object_store::MultipartUpload;

use crate::runtime;

/// A multipart upload that is aborted unless it completes: when a part or
/// the completion fails, and when the future driving it is dropped (Ctrl-C,
/// a failing sibling in `put_many`), so that no store keeps, and bills for,
/// the parts of an upload nobody will finish.
pub(super) struct PendingUpload(Option<Box<dyn MultipartUpload>>);

impl PendingUpload {
    /// Watch over `upload`, just started.
    pub(super) fn new(upload: Box<dyn MultipartUpload>) -> Self {
        Self(Some(upload))
    }

    pub(super) fn put_part(&mut self, data: object_store::PutPayload) -> object_store::UploadPart {
        self.0.as_mut().expect("upload in progress").put_part(data)
    }

    /// Complete the upload (aborting it if that fails).
    pub(super) async fn complete(mut self) -> object_store::Result<()> {
        let result = self
            .0
            .as_mut()
            .expect("upload in progress")
            .complete()
            .await;
        match result {
            Ok(_) => {
                self.0 = None;
                Ok(())
            }
            Err(e) => {
                self.abort().await;
                Err(e)
            }
        }
    }

    /// Abort the upload, now. A failure to abort is not reported: the
    /// error that led here is the one the caller needs.
    pub(super) async fn abort(&mut self) {
        if let Some(upload) = self.0.as_mut() {
            let _ = upload.abort().await;
            self.0 = None;
        }
    }
}

impl Drop for PendingUpload {
    fn drop(&mut self) {
        if let Some(mut upload) = self.0.take() {
            runtime::spawn_cleanup(async move {
                let _ = upload.abort().await;
            });
        }
    }
}
