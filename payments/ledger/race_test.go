//go:build race

package ledger_test

// raceEnabled says the tests run under the race detector, where each
// process they spawn starts several times slower.
const raceEnabled = true
