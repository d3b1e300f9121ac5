// Package dropbox is the request drop-box: users drop
// home/<user>/<cluster>.cf-create (or .cf-delete) into a bucket or a
// directory, and stratus creates (or deletes) the cluster as that user and
// answers with <cluster>.cf-created (the login address, then the
// cluster's JSON), .cf-deleted or .cf-failed (the reason) next to the
// request.
//
// A Bucket is where requests arrive: Dir (a local directory) or S3 (an S3
// bucket, AWS or compatible). The Watcher learns of request objects from
// S3 event notifications and from a periodic listing, records each object
// version in the store before acting on it, and carries it through the
// cluster service step by step, recording each step, so that a crash
// finishes on restart and no request is carried out twice.
package dropbox
