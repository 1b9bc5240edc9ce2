//! Pagination: how a listing's next request is made from the last answer.

use super::{Request, Response};
use crate::Error;

/// Makes the requests of a listing, page after page.
pub trait Paginator: Send {
    /// Sets up the first request (page=1, limit=...).
    fn first(&mut self, request: &mut Request) {
        let _ = request;
    }

    /// Turns `request` into the next page's, or returns false when the listing ended.
    /// `records`: how many records the page had.
    ///
    /// # Errors
    ///
    /// The answer does not say where the next page is in the expected form.
    fn next(
        &mut self,
        response: &Response,
        records: usize,
        request: &mut Request,
    ) -> Result<bool, Error>;
}

/// A listing of one page.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoPagination;

impl Paginator for NoPagination {
    fn next(&mut self, _: &Response, _: usize, _: &mut Request) -> Result<bool, Error> {
        Ok(false)
    }
}
