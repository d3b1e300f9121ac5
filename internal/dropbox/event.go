package dropbox

import (
	"encoding/json"
	"fmt"
	"net/url"
)

// EventObject is one object an S3 event notification is about.
type EventObject struct {
	Bucket string
	Key    string
}

// ParseEvent reads an S3 event notification (the JSON document S3 and
// MinIO send: Records[].s3.bucket.name and Records[].s3.object.key, the
// key URL-encoded). A document without records (a test event) has no
// objects.
func ParseEvent(data []byte) ([]EventObject, error) {
	var ev struct {
		Records []struct {
			EventName string `json:"eventName"`
			S3        struct {
				Bucket struct {
					Name string `json:"name"`
				} `json:"bucket"`
				Object struct {
					Key string `json:"key"`
				} `json:"object"`
			} `json:"s3"`
		} `json:"Records"`
	}
	if err := json.Unmarshal(data, &ev); err != nil {
		return nil, fmt.Errorf("not an S3 event notification: %v", err)
	}
	var out []EventObject
	for i, r := range ev.Records {
		key, err := url.QueryUnescape(r.S3.Object.Key)
		if err != nil {
			return nil, fmt.Errorf("Records[%d].s3.object.key %q: not URL-encoded: %v", i, r.S3.Object.Key, err)
		}
		if key == "" {
			return nil, fmt.Errorf("Records[%d].s3.object.key: missing", i)
		}
		out = append(out, EventObject{Bucket: r.S3.Bucket.Name, Key: key})
	}
	return out, nil
}
