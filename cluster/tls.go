package cluster

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
)

// TLSFiles names the PEM files of node-to-node TLS. All three are needed:
// every node presents its certificate and accepts only peers whose
// certificates chain to the CA.
type TLSFiles struct {
	Cert, Key, CA string
}

func (f TLSFiles) enabled() bool { return f.Cert != "" || f.Key != "" || f.CA != "" }

// load builds a mutual-TLS config. Peers are verified against the CA, not
// by host name, since nodes dial each other by the addresses they
// advertise, which are often bare IPs.
func (f TLSFiles) load() (*tls.Config, error) {
	if f.Cert == "" || f.Key == "" || f.CA == "" {
		return nil, errors.New("cluster: TLS needs --tls-cert, --tls-key and --tls-ca together")
	}
	cert, err := tls.LoadX509KeyPair(f.Cert, f.Key)
	if err != nil {
		return nil, fmt.Errorf("load TLS key pair: %w", err)
	}
	caPEM, err := os.ReadFile(f.CA)
	if err != nil {
		return nil, fmt.Errorf("read TLS CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, fmt.Errorf("cluster: no certificates in %s", f.CA)
	}
	verify := func(cs tls.ConnectionState) error {
		if len(cs.PeerCertificates) == 0 {
			return errors.New("cluster: peer sent no certificate")
		}
		inter := x509.NewCertPool()
		for _, c := range cs.PeerCertificates[1:] {
			inter.AddCert(c)
		}
		_, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{
			Roots: pool, Intermediates: inter,
			KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
		})
		return err
	}
	return &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{cert},
		ClientCAs:    pool,
		ClientAuth:   tls.RequireAnyClientCert,
		// Chain verification happens in VerifyConnection for both sides.
		InsecureSkipVerify: true,
		VerifyConnection:   verify,
	}, nil
}
