package keytest

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
)

// LocalKMS is a running local-kms, an AWS KMS emulator that keeps
// secp256k1 keys and signs with them as KMS does (DER ECDSA, with s high
// or low as it falls), serving the KMS API on loopback.
type LocalKMS struct {
	// URL is its endpoint; Region the region it answers for.
	URL, Region string
	// Client is a KMS client for it, with the test's credentials.
	Client *kms.Client
	cmd    *exec.Cmd
	log    *syncBuffer
	exited chan struct{}
}

// The AWS credentials local-kms is given: it checks none. The secret is
// distinctive so that a test can look for it where it must not be.
const (
	KMSAccessKeyID     = "AKIAX402MCPTEST00001"
	KMSSecretAccessKey = "x402-mcp-test-secret-access-key-0b8e4d7f"
)

// StartLocalKMS starts local-kms with an empty store on a free loopback
// port; it stops when t ends.
func StartLocalKMS(t testing.TB) *LocalKMS {
	t.Helper()
	bin := Tool(t, "local-kms")
	dir := t.TempDir()
	k := &LocalKMS{Region: "eu-west-2", log: &syncBuffer{}, exited: make(chan struct{})}
	k.cmd = exec.Command(bin)
	// PORT=0: a free port, which it logs. (It listens on every interface;
	// only this test talks to it, over 127.0.0.1.)
	k.cmd.Env = append(os.Environ(), "PORT=0", "KMS_REGION="+k.Region, "KMS_DATA_PATH="+filepath.Join(dir, "data"),
		"KMS_SEED_PATH="+filepath.Join(dir, "no-seed.yaml"))
	k.cmd.Stdout, k.cmd.Stderr = k.log, k.log
	if err := k.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// The exit status is dropped: stopProcess ends it, so it says nothing.
	go func() { _ = k.cmd.Wait(); close(k.exited) }()
	t.Cleanup(func() { stopProcess(t, "local-kms", k.cmd, k.exited, 5*time.Second) })
	started := regexp.MustCompile(`Local KMS started on [^:\s]*:(\d+)`)
	deadline := time.Now().Add(30 * time.Second)
	for {
		if m := started.FindStringSubmatch(k.log.String()); m != nil {
			k.URL = "http://127.0.0.1:" + m[1]
			break
		}
		select {
		case <-k.exited:
			t.Fatalf("local-kms exited:\n%s", k.log.String())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("local-kms %v:\n%s", errNotReady, k.log.String())
		}
	}
	k.Client = kms.New(kms.Options{
		Region:       k.Region,
		BaseEndpoint: aws.String(k.URL),
		Credentials:  credentials.NewStaticCredentialsProvider(KMSAccessKeyID, KMSSecretAccessKey, ""),
	})
	return k
}

// Env is the AWS environment that points the AWS SDK at k.
func (k *LocalKMS) Env() []string {
	return []string{"AWS_REGION=" + k.Region, "AWS_ENDPOINT_URL_KMS=" + k.URL, "AWS_ACCESS_KEY_ID=" + KMSAccessKeyID,
		"AWS_SECRET_ACCESS_KEY=" + KMSSecretAccessKey, "AWS_EC2_METADATA_DISABLED=true"}
}

// CreateKey creates an asymmetric key of spec for signing and returns its
// id.
func (k *LocalKMS) CreateKey(t testing.TB, spec types.KeySpec) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := k.Client.CreateKey(ctx, &kms.CreateKeyInput{KeySpec: spec, KeyUsage: types.KeyUsageTypeSignVerify})
	if err != nil {
		t.Fatalf("local-kms CreateKey %s: %v\n%s", spec, err, k.log.String())
	}
	return aws.ToString(out.KeyMetadata.KeyId)
}

// DisableKey disables the key: KMS then refuses to sign with it.
func (k *LocalKMS) DisableKey(t testing.TB, id string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := k.Client.DisableKey(ctx, &kms.DisableKeyInput{KeyId: aws.String(id)}); err != nil {
		t.Fatalf("local-kms DisableKey: %v", err)
	}
}

// Log returns what local-kms has logged.
func (k *LocalKMS) Log() string { return k.log.String() }
