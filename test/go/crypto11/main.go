// What Teleport's PKCS#11 keystore does, with crypto11 over `tinyhsm pkcs11` (docs/pkcs11.md §2): configure by token label
// and PIN, generate a P-256 key pair with an id and a label, find it again, sign a digest and check it with
// ecdsa.VerifyASN1. Run by test/integration/pkcs11-go.test.ts: GO111MODULE=off GOPATH=/usr/share/gocode go run .
package main

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"

	"github.com/ThalesIgnite/crypto11"
)

type result struct {
	PublicKey string `json:"publicKey"`
	Digest    string `json:"digest"`
	Signature string `json:"signature"`
	Verified  bool   `json:"verified"`
	Found     bool   `json:"found"`
}

func fail(step string, err error) {
	fmt.Fprintf(os.Stderr, "%s: %v\n", step, err)
	os.Exit(1)
}

func main() {
	ctx, err := crypto11.Configure(&crypto11.Config{
		Path:       os.Getenv("P11_MODULE"),
		TokenLabel: os.Getenv("P11_TOKEN_LABEL"),
		Pin:        os.Getenv("P11_PIN"),
	})
	if err != nil {
		fail("configure", err)
	}
	defer ctx.Close()
	id, err := hex.DecodeString(os.Getenv("P11_KEY_ID"))
	if err != nil {
		fail("key id", err)
	}
	label := []byte(os.Getenv("P11_KEY_LABEL"))
	made, err := ctx.GenerateECDSAKeyPairWithLabel(id, label, elliptic.P256())
	if err != nil {
		fail("generate", err)
	}
	found, err := ctx.FindKeyPair(id, label)
	if err != nil {
		fail("find", err)
	}
	if found == nil {
		fail("find", fmt.Errorf("no key pair with that id and label"))
	}
	pub, ok := found.Public().(*ecdsa.PublicKey)
	if !ok {
		fail("public key", fmt.Errorf("not an ECDSA key: %T", found.Public()))
	}
	digest := sha256.Sum256([]byte("signed by crypto11 through p11-kit-client.so"))
	sig, err := found.Sign(rand.Reader, digest[:], crypto.SHA256)
	if err != nil {
		fail("sign", err)
	}
	out := result{
		PublicKey: hex.EncodeToString(elliptic.Marshal(elliptic.P256(), pub.X, pub.Y)),
		Digest:    hex.EncodeToString(digest[:]),
		Signature: hex.EncodeToString(sig),
		Verified:  ecdsa.VerifyASN1(pub, digest[:], sig),
		Found:     made.Public().(*ecdsa.PublicKey).Equal(pub),
	}
	if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {
		fail("output", err)
	}
}
