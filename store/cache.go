package store

// MaxCachedAnswerBytes bounds one cached answer. Longer answers are not
// stored: they are rare, and one runaway answer must not evict hundreds of
// ordinary ones.
const MaxCachedAnswerBytes = 64 << 10
