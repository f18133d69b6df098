// Added to sigs.k8s.io/kube-network-policies' package networkpolicy by
// tools/build-k8s-node, which also points the two places that build a packet queue
// statement at xtNFQueue.
//
// The engine hands new connections of pods to user space through an NFQUEUE. It builds
// that with nftables' own queue expression, which this machine's kernel lacks (built
// without CONFIG_NFT_QUEUE: adding any rule with `queue` fails with "No such file or
// directory"), while the kernel does have the iptables NFQUEUE target and nftables'
// xtables compatibility layer (what iptables-nft uses). xtNFQueue is that target, with
// the same queue number and the same bypass behaviour, so every rule stays as upstream
// wrote it.

package networkpolicy

import (
	"encoding/binary"

	"github.com/google/nftables/expr"
	"github.com/google/nftables/xt"
)

// xtNFQueue returns the NFQUEUE target (revision 3) that sends a packet to queue num;
// with bypass the packet is accepted when no program listens on the queue.
func xtNFQueue(num uint16, bypass bool) *expr.Target {
	// struct xt_NFQ_info_v3 { __u16 queuenum; __u16 queues_total; __u16 flags; }, in
	// host byte order, padded to the 8-byte alignment of xtables payloads.
	info := make(xt.Unknown, 8)
	binary.NativeEndian.PutUint16(info[0:], num)
	binary.NativeEndian.PutUint16(info[2:], 1)
	if bypass {
		binary.NativeEndian.PutUint16(info[4:], 1) // NFQ_FLAG_BYPASS
	}
	return &expr.Target{Name: "NFQUEUE", Rev: 3, Info: &info}
}
