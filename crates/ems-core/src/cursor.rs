//! A cursor over untrusted bytes: every read checks the length first and never panics. The one
//! byte reader of EMS: frames, bundles and key files here, the sync codec in `ems-relay`.

/// Reads fixed-size fields from the front of a byte slice.
pub struct Cursor<'a> {
    rest: &'a [u8],
}

impl<'a> Cursor<'a> {
    /// A cursor at the start of `bytes`.
    pub fn new(bytes: &'a [u8]) -> Self {
        Cursor { rest: bytes }
    }

    /// The next `len` bytes, or `None` if fewer are left.
    pub fn take(&mut self, len: usize) -> Option<&'a [u8]> {
        if self.rest.len() < len {
            return None;
        }
        let (head, tail) = self.rest.split_at(len);
        self.rest = tail;
        Some(head)
    }

    /// The next `N` bytes as an array.
    pub fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.take(N).and_then(|bytes| bytes.try_into().ok())
    }

    /// The next byte.
    pub fn u8(&mut self) -> Option<u8> {
        self.array::<1>().map(|[byte]| byte)
    }

    /// The next big-endian u16.
    pub fn u16(&mut self) -> Option<u16> {
        self.array().map(u16::from_be_bytes)
    }

    /// The next big-endian u32.
    pub fn u32(&mut self) -> Option<u32> {
        self.array().map(u32::from_be_bytes)
    }

    /// The next big-endian u64.
    pub fn u64(&mut self) -> Option<u64> {
        self.array().map(u64::from_be_bytes)
    }

    /// How many bytes are left.
    pub fn remaining(&self) -> usize {
        self.rest.len()
    }
}

#[cfg(test)]
mod tests {
    use super::Cursor;

    #[test]
    fn reads_fields_in_order_and_refuses_to_read_past_the_end() {
        let bytes = [1, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 3, 9];
        let mut cursor = Cursor::new(&bytes);
        assert_eq!(cursor.u8(), Some(1));
        assert_eq!(cursor.u16(), Some(0));
        assert_eq!(cursor.u16(), Some(2));
        assert_eq!(cursor.u64(), Some(3));
        assert_eq!(cursor.remaining(), 1);
        assert_eq!(cursor.u32(), None);
        assert_eq!(cursor.u8(), Some(9));
        assert_eq!(cursor.u8(), None);
    }
}
