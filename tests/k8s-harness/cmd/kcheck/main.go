// Command kcheck is the harness's small Kubernetes client: the few API operations the
// helm tests need, without building kubectl.
//
//	kcheck freeports N                      print N free TCP ports on 127.0.0.1
//	kcheck wait-ready [-timeout 60s]        poll the API server's /readyz
//	kcheck strict-dry-run -n NS FILE...     create every object in the YAML files with
//	                                        dryRun=All and fieldValidation=Strict
//	kcheck leftovers -n NS -selector SEL    list every listable resource (namespaced in
//	                                        NS, and cluster-scoped) matching SEL; exit 1
//	                                        when anything is found
//	kcheck field -n NS RESOURCE NAME PATH   print one field (JSON unless scalar), e.g.
//	                                        kcheck field deployments.apps x spec.replicas
//
// The kubeconfig comes from -kubeconfig or $KUBECONFIG.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/clientcmd"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	cmd, args := os.Args[1], os.Args[2:]
	fs := flag.NewFlagSet(cmd, flag.ExitOnError)
	kubeconfig := fs.String("kubeconfig", os.Getenv("KUBECONFIG"), "kubeconfig file")
	ns := fs.String("n", "default", "namespace")
	selector := fs.String("selector", "", "label selector")
	timeout := fs.Duration("timeout", 60*time.Second, "how long to wait")
	_ = fs.Parse(args)
	ctx := context.Background()

	var err error
	switch cmd {
	case "freeports":
		err = freePorts(fs.Args())
	case "wait-ready":
		err = waitReady(ctx, mustConfig(*kubeconfig), *timeout)
	case "strict-dry-run":
		err = strictDryRun(ctx, mustConfig(*kubeconfig), *ns, fs.Args())
	case "leftovers":
		cfg := mustConfig(*kubeconfig)
		// Listing every resource type draws deprecation warnings (ComponentStatus,
		// Endpoints) that say nothing about the objects found.
		cfg.WarningHandler = rest.NoWarnings{}
		err = leftovers(ctx, cfg, *ns, *selector)
	case "field":
		err = field(ctx, mustConfig(*kubeconfig), *ns, fs.Args())
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "kcheck %s: %v\n", cmd, err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: kcheck freeports|wait-ready|strict-dry-run|leftovers|field [flags] [args]")
	os.Exit(2)
}

func mustConfig(path string) *rest.Config {
	cfg, err := clientcmd.BuildConfigFromFlags("", path)
	if err != nil {
		fmt.Fprintf(os.Stderr, "kcheck: kubeconfig: %v\n", err)
		os.Exit(1)
	}
	// Surface every API warning (unknown fields, deprecations) on stderr.
	cfg.WarningHandler = rest.NewWarningWriter(os.Stderr, rest.WarningWriterOptions{})
	// A private test server: client-side throttling (5 QPS by default) only slows the
	// discovery and the one-list-per-resource sweep of "leftovers".
	cfg.QPS, cfg.Burst = 500, 1000
	return cfg
}

func freePorts(args []string) error {
	n := 1
	if len(args) > 0 {
		if _, err := fmt.Sscan(args[0], &n); err != nil {
			return err
		}
	}
	// Hold every listener until all are chosen so the N ports are distinct.
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	var ports []string
	for i := 0; i < n; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		ls = append(ls, l)
		ports = append(ports, fmt.Sprint(l.Addr().(*net.TCPAddr).Port))
	}
	fmt.Println(strings.Join(ports, " "))
	return nil
}

func waitReady(ctx context.Context, cfg *rest.Config, timeout time.Duration) error {
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	deadline := time.Now().Add(timeout)
	var last error
	for time.Now().Before(deadline) {
		body, err := cs.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
		if err == nil && strings.TrimSpace(string(body)) == "ok" {
			return nil
		}
		last = err
		time.Sleep(250 * time.Millisecond)
	}
	return fmt.Errorf("not ready after %s: %v", timeout, last)
}

func mapper(cfg *rest.Config) (meta.RESTMapper, discovery.DiscoveryInterface, error) {
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return nil, nil, err
	}
	cached := memory.NewMemCacheClient(dc)
	return restmapper.NewDeferredDiscoveryRESTMapper(cached), dc, nil
}

func readObjects(path string) ([]*unstructured.Unstructured, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var objs []*unstructured.Unstructured
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		if len(bytes.TrimSpace(doc)) == 0 {
			continue
		}
		u := &unstructured.Unstructured{}
		if err := utilyaml.Unmarshal(doc, &u.Object); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if len(u.Object) == 0 {
			continue // a document of comments only
		}
		objs = append(objs, u)
	}
	return objs, nil
}

func strictDryRun(ctx context.Context, cfg *rest.Config, ns string, files []string) error {
	rm, _, err := mapper(cfg)
	if err != nil {
		return err
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return err
	}
	failed, total := 0, 0
	for _, f := range files {
		objs, err := readObjects(f)
		if err != nil {
			return err
		}
		for _, u := range objs {
			total++
			gvk := u.GroupVersionKind()
			m, err := rm.RESTMapping(gvk.GroupKind(), gvk.Version)
			if err != nil {
				fmt.Printf("REJECTED %s %s: %v\n", gvk.Kind, u.GetName(), err)
				failed++
				continue
			}
			var ri dynamic.ResourceInterface = dyn.Resource(m.Resource)
			if m.Scope.Name() == meta.RESTScopeNameNamespace {
				ri = dyn.Resource(m.Resource).Namespace(ns)
			}
			_, err = ri.Create(ctx, u, metav1.CreateOptions{
				DryRun:          []string{metav1.DryRunAll},
				FieldValidation: metav1.FieldValidationStrict,
			})
			if err != nil {
				fmt.Printf("REJECTED %s %s: %v\n", gvk.Kind, u.GetName(), err)
				failed++
				continue
			}
			fmt.Printf("accepted %s %s\n", gvk.Kind, u.GetName())
		}
	}
	if total == 0 {
		return errors.New("no objects found")
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d objects rejected", failed, total)
	}
	return nil
}

func leftovers(ctx context.Context, cfg *rest.Config, ns, selector string) error {
	if selector == "" {
		return errors.New("-selector is required")
	}
	_, dc, err := mapper(cfg)
	if err != nil {
		return err
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return err
	}
	lists, err := dc.ServerPreferredResources()
	if err != nil && len(lists) == 0 {
		return err
	}
	found := 0
	for _, l := range lists {
		gv, err := schema.ParseGroupVersion(l.GroupVersion)
		if err != nil {
			return err
		}
		for _, r := range l.APIResources {
			if strings.Contains(r.Name, "/") || !hasVerb(r.Verbs, "list") {
				continue
			}
			var ri dynamic.ResourceInterface = dyn.Resource(gv.WithResource(r.Name))
			if r.Namespaced {
				ri = dyn.Resource(gv.WithResource(r.Name)).Namespace(ns)
			}
			items, err := ri.List(ctx, metav1.ListOptions{LabelSelector: selector})
			if err != nil {
				return fmt.Errorf("list %s: %w", r.Name, err)
			}
			for _, it := range items.Items {
				fmt.Printf("LEFT %s/%s %s\n", l.GroupVersion, r.Name, it.GetName())
				found++
			}
		}
	}
	if found > 0 {
		return fmt.Errorf("%d objects left matching %q", found, selector)
	}
	return nil
}

func hasVerb(verbs []string, v string) bool {
	for _, x := range verbs {
		if x == v {
			return true
		}
	}
	return false
}

func field(ctx context.Context, cfg *rest.Config, ns string, args []string) error {
	if len(args) != 3 {
		return errors.New("usage: field -n NS RESOURCE[.GROUP] NAME PATH")
	}
	rm, _, err := mapper(cfg)
	if err != nil {
		return err
	}
	gvr, err := rm.ResourceFor(schema.ParseGroupResource(args[0]).WithVersion(""))
	if err != nil {
		return err
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return err
	}
	u, err := dyn.Resource(gvr).Namespace(ns).Get(ctx, args[1], metav1.GetOptions{})
	if err != nil {
		return err
	}
	v, ok, err := unstructured.NestedFieldNoCopy(u.Object, strings.Split(args[2], ".")...)
	if err != nil || !ok {
		return fmt.Errorf("%s: no field %s (%v)", args[1], args[2], err)
	}
	switch v.(type) {
	case map[string]interface{}, []interface{}:
		b, err := json.Marshal(v)
		if err != nil {
			return err
		}
		fmt.Println(string(b))
	default:
		fmt.Println(v)
	}
	return nil
}
