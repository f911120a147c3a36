package cluster

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// writeCA creates a CA and one certificate signed by it in dir, returning
// the file names; other is a certificate from an unrelated CA.
func writeCA(t *testing.T, dir, name string) (TLSFiles, TLSFiles) {
	t.Helper()
	mk := func(prefix string) (TLSFiles, *x509.Certificate, *ecdsa.PrivateKey) {
		caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		caTpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: prefix + " CA"},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
		caDER, err := x509.CreateCertificate(rand.Reader, caTpl, caTpl, &caKey.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		ca, _ := x509.ParseCertificate(caDER)
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		tpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: name},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			KeyUsage:    x509.KeyUsageDigitalSignature,
			ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}}
		der, err := x509.CreateCertificate(rand.Reader, tpl, ca, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		keyDER, _ := x509.MarshalECPrivateKey(key)
		f := TLSFiles{Cert: filepath.Join(dir, prefix+"cert.pem"), Key: filepath.Join(dir, prefix+"key.pem"), CA: filepath.Join(dir, prefix+"ca.pem")}
		write := func(path, typ string, b []byte) {
			if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: b}), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		write(f.Cert, "CERTIFICATE", der)
		write(f.Key, "EC PRIVATE KEY", keyDER)
		write(f.CA, "CERTIFICATE", caDER)
		return f, ca, caKey
	}
	good, _, _ := mk("good-")
	bad, _, _ := mk("bad-")
	return good, bad
}

func TestTLSBetweenNodes(t *testing.T) {
	dir := t.TempDir()
	good, bad := writeCA(t, dir, "node")
	tc := newTestCluster(t, 3, func(c *Config) { c.TLS = good })
	if _, err := tc.follower().node.Apply(context.Background(), orgCmd("o", "over TLS")); err != nil {
		t.Fatalf("forwarded write over TLS: %v", err)
	}
	// A node whose certificate another CA signed is refused even with the
	// right cluster secret.
	c := clusterConfig(t, "stranger")
	c.TLS = bad
	s := tc.start(c)
	if _, err := s.node.call(context.Background(), tc.nodes["n1"].cfg.RaftAddr, rpcRequest{Method: rpcStatus}); err == nil {
		t.Fatal("a node with a foreign certificate made an RPC call")
	}
}
