//! Every list is paginated: `?page=1&per_page=20`, at most 100 a page.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

pub const DEFAULT_PER_PAGE: u32 = 20;
pub const MAX_PER_PAGE: u32 = 100;

#[derive(Debug, Clone, Copy, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageRequest {
    /// 1-based page number.
    #[serde(default = "first_page")]
    #[param(minimum = 1, default = 1)]
    pub page: u32,
    #[serde(default = "default_per_page")]
    #[param(minimum = 1, maximum = 100, default = 20)]
    pub per_page: u32,
}

fn first_page() -> u32 {
    1
}
fn default_per_page() -> u32 {
    DEFAULT_PER_PAGE
}

impl Default for PageRequest {
    fn default() -> Self {
        PageRequest { page: 1, per_page: DEFAULT_PER_PAGE }
    }
}

impl PageRequest {
    pub fn new(page: u32, per_page: u32) -> crate::Result<Self> {
        let p = PageRequest { page, per_page };
        p.validate()?;
        Ok(p)
    }

    pub fn validate(&self) -> crate::Result<()> {
        if self.page == 0 {
            return Err(crate::Error::validation("page", "must be 1 or more"));
        }
        if self.per_page == 0 || self.per_page > MAX_PER_PAGE {
            return Err(crate::Error::validation("per_page", format!("must be between 1 and {MAX_PER_PAGE}")));
        }
        Ok(())
    }

    pub fn limit(&self) -> i64 {
        self.per_page as i64
    }

    pub fn offset(&self) -> i64 {
        (self.page as i64 - 1) * self.per_page as i64
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub page: u32,
    pub per_page: u32,
    /// Items across all pages.
    pub total: u64,
}

impl<T> Page<T> {
    pub fn new(items: Vec<T>, request: PageRequest, total: u64) -> Self {
        Page { items, page: request.page, per_page: request.per_page, total }
    }

    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            items: self.items.into_iter().map(f).collect(),
            page: self.page,
            per_page: self.per_page,
            total: self.total,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_are_enforced() {
        assert!(PageRequest::new(0, 20).is_err());
        assert!(PageRequest::new(1, 101).is_err());
        let p = PageRequest::new(3, 20).unwrap();
        assert_eq!((p.limit(), p.offset()), (20, 40));
    }
}
