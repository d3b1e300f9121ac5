package main

import (
	"context"
	"path/filepath"
	"strconv"

	"github.com/rogpeppe/go-internal/testscript"
	"github.com/stratus-cloud/stratus/internal/provider"
	"github.com/stratus-cloud/stratus/internal/provider/local"
)

// cmdCloudRes changes or looks at the local cloud's images, key pairs and
// security groups directly, around stratus, as someone with the cloud's
// console would.
//
//	cloudres revoke-rule REGION GROUP PROTO PORT CIDR   revoke a rule of the group named GROUP
//	cloudres delete-key REGION NAME                     delete a key pair
//	cloudres group REGION NAME                          create a group without tags
//	cloudres key REGION NAME                            import a key pair without tags
//	[!] cloudres has group|key|image REGION NAME        a resource of that kind has that name
func cmdCloudRes(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) < 3 {
		ts.Fatalf("usage: cloudres revoke-rule|delete-key|replace-key|group|key|has ...")
	}
	p, err := local.New(local.Options{Root: ts.MkAbs(filepath.Join("stratus-data", "cloud"))})
	ts.Check(err)
	ctx := context.Background()
	region := args[1]
	groupID := func(name string) string {
		gs, err := p.ListSecurityGroups(ctx, region, provider.Filter{})
		ts.Check(err)
		for _, g := range gs {
			if g.Name == name {
				return g.ID
			}
		}
		ts.Fatalf("no security group %s in %s", name, region)
		return ""
	}
	if args[0] != "has" && neg {
		ts.Fatalf("unsupported: ! cloudres %s", args[0])
	}
	switch args[0] {
	case "revoke-rule":
		if len(args) != 6 {
			ts.Fatalf("usage: cloudres revoke-rule REGION GROUP PROTO PORT CIDR")
		}
		port, err := strconv.Atoi(args[4])
		ts.Check(err)
		ts.Check(p.RevokeIngress(ctx, region, groupID(args[2]), []provider.Rule{{Protocol: args[3], FromPort: port, ToPort: port, CIDR: args[5]}}))
	case "delete-key":
		ts.Check(p.DeleteKeyPair(ctx, region, args[2]))
	case "replace-key":
		// Another key under the same name, with the old one's tags.
		if len(args) != 4 {
			ts.Fatalf("usage: cloudres replace-key REGION NAME PUBFILE")
		}
		ks, err := p.ListKeyPairs(ctx, region, provider.Filter{})
		ts.Check(err)
		var tags map[string]string
		for _, k := range ks {
			if k.Name == args[2] {
				tags = k.Tags
			}
		}
		ts.Check(p.DeleteKeyPair(ctx, region, args[2]))
		_, err = p.ImportKeyPair(ctx, region, args[2], []byte(ts.ReadFile(args[3])), tags)
		ts.Check(err)
	case "group":
		_, err := p.CreateSecurityGroup(ctx, region, args[2], "made by hand", nil)
		ts.Check(err)
	case "key":
		_, err := p.ImportKeyPair(ctx, region, args[2], []byte(ts.ReadFile("id.pub")), nil)
		ts.Check(err)
	case "has":
		if len(args) != 4 {
			ts.Fatalf("usage: cloudres has group|key|image REGION NAME")
		}
		region, name := args[2], args[3]
		var names []string
		switch args[1] {
		case "group":
			gs, err := p.ListSecurityGroups(ctx, region, provider.Filter{})
			ts.Check(err)
			for _, g := range gs {
				names = append(names, g.Name)
			}
		case "key":
			ks, err := p.ListKeyPairs(ctx, region, provider.Filter{})
			ts.Check(err)
			for _, k := range ks {
				names = append(names, k.Name)
			}
		case "image":
			// Only copies: the base image has no tags.
			imgs, err := p.ListImages(ctx, region, provider.Filter{Tags: map[string]string{provider.TagInstallation: ""}})
			ts.Check(err)
			for _, img := range imgs {
				names = append(names, img.Name)
			}
		default:
			ts.Fatalf("cloudres has: unknown kind %s", args[1])
		}
		found := false
		for _, n := range names {
			found = found || n == name
		}
		if found == neg {
			ts.Fatalf("cloudres has %s %s %s: %v (have %v)", args[1], region, name, found, names)
		}
	default:
		ts.Fatalf("cloudres: unknown command %s", args[0])
	}
}
