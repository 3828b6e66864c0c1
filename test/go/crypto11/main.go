// What Teleport's PKCS#11 keystore does, with crypto11 over `tinyhsm pkcs11` (docs/pkcs11.md §2): configure by token label
// and PIN, generate a P-256 key pair with an id and a label, find it again by both, list the keys of that label with
// FindKeyPairs(nil, label), sign a digest and check it with ecdsa.VerifyASN1. Teleport's own shape (lib/auth/keystore/pkcs11.go:
// the 16 raw bytes of a UUID as CKA_ID, the 36-character host UUID as CKA_LABEL) takes the digest form of docs/pkcs11.md
// §4.1. With P11_GENERATE=0 it makes nothing and finds the key made by an earlier run (through another server, say, whose
// cache does not have the originals). Run by test/integration/pkcs11-go.test.ts: GO111MODULE=off GOPATH=/usr/share/gocode.
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
	// the key found is the one generated (P11_GENERATE=0: always true, the caller compares publicKey)
	Found bool `json:"found"`
	// FindKeyPairs(nil, label): how many key pairs, and whether the one found is among them
	ByLabel      int  `json:"byLabel"`
	ByLabelFound bool `json:"byLabelFound"`
	// CKA_LABEL and CKA_ID of the private key as read back (hex): the originals, or the stand-ins of §4.1
	ReadLabel string `json:"readLabel"`
	ReadID    string `json:"readId"`
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
	var made crypto11.Signer
	if os.Getenv("P11_GENERATE") != "0" {
		made, err = ctx.GenerateECDSAKeyPairWithLabel(id, label, elliptic.P256())
		if err != nil {
			fail("generate", err)
		}
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
	// Teleport lists its host's keys by label alone
	all, err := ctx.FindKeyPairs(nil, label)
	if err != nil {
		fail("find by label", err)
	}
	byLabelFound := false
	for _, k := range all {
		if p, ok := k.Public().(*ecdsa.PublicKey); ok && p.Equal(pub) {
			byLabelFound = true
		}
	}
	attrs, err := ctx.GetAttributes(found, []crypto11.AttributeType{crypto11.CkaLabel, crypto11.CkaId})
	if err != nil {
		fail("attributes", err)
	}
	digest := sha256.Sum256([]byte("signed by crypto11 through p11-kit-client.so"))
	sig, err := found.Sign(rand.Reader, digest[:], crypto.SHA256)
	if err != nil {
		fail("sign", err)
	}
	out := result{
		PublicKey:    hex.EncodeToString(elliptic.Marshal(elliptic.P256(), pub.X, pub.Y)),
		Digest:       hex.EncodeToString(digest[:]),
		Signature:    hex.EncodeToString(sig),
		Verified:     ecdsa.VerifyASN1(pub, digest[:], sig),
		Found:        made == nil || made.Public().(*ecdsa.PublicKey).Equal(pub),
		ByLabel:      len(all),
		ByLabelFound: byLabelFound,
		ReadLabel:    hex.EncodeToString(attrs[crypto11.CkaLabel].Value),
		ReadID:       hex.EncodeToString(attrs[crypto11.CkaId].Value),
	}
	if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {
		fail("output", err)
	}
}
