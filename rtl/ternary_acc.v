// ternary_acc: a ternary-weight (-1/0/+1) dot-product accumulator with adders only (MatMul-free LM,
// Zhu et al., arXiv 2406.02528).  Each cycle it adds LANES signed activations, each negated or
// skipped by its weight, into a wrap-around accumulator:
//     acc <= wrap((clr ? 0 : acc) + (en ? sum_l t_l * a_l : 0), ACC_BITS)
// Weight code per lane, 2 bits {neg, nz}: 2'b01 = +1, 2'b11 = -1, 2'b00 = 0, and 2'b10 (a
// "negative zero") = 0 -- the first three are the 2-bit two's complement of the weight
// (sim.kernels.ternary_from_code).  A negation is the one's complement plus a carry: the lanes'
// complemented operands go through one adder tree and the count of negated lanes enters as carry,
// so no multiplier and no separate negators.
// Signed operands are sign-extended to the wider side on purpose (Verilog's signed rules).
/* verilator lint_off WIDTHEXPAND */
module ternary_acc #(
    parameter LANES    = 4,
    parameter A_BITS   = 8,
    parameter ACC_BITS = 32
) (
    input  wire                       clk,
    input  wire                       clr,
    input  wire                       en,
    input  wire [LANES*A_BITS-1:0]    a,      // lane l: bits [l*A_BITS +: A_BITS], signed
    input  wire [2*LANES-1:0]         t,      // lane l: bits [2*l +: 2] = {neg, nz}
    output reg  signed [ACC_BITS-1:0] acc
);
    localparam L_BITS = $clog2(LANES + 1);
    localparam T_BITS = A_BITS + L_BITS + 1;  // sum of LANES terms in [-2^(A_BITS-1), 2^(A_BITS-1)]

    reg signed [T_BITS-1:0] tsum;
    reg        [L_BITS-1:0] negs;
    reg signed [A_BITS-1:0] lane;
    integer l;
    always @(*) begin
        tsum = {T_BITS{1'b0}};
        negs = {L_BITS{1'b0}};
        for (l = 0; l < LANES; l = l + 1) begin
            lane = a[l*A_BITS +: A_BITS] ^ {A_BITS{t[2*l+1]}};        // ~a when negating
            if (t[2*l]) begin
                tsum = tsum + lane;                                     // sign-extended
                negs = negs + t[2*l+1];
            end
        end
        tsum = tsum + {{(T_BITS - L_BITS){1'b0}}, negs};               // -a = ~a + 1
    end

    wire signed [ACC_BITS-1:0] tsum_ext = tsum;
    wire signed [ACC_BITS-1:0] base     = clr ? {ACC_BITS{1'b0}} : acc;

    always @(posedge clk) begin
        if (en)
            acc <= base + tsum_ext;
        else if (clr)
            acc <= {ACC_BITS{1'b0}};
    end
endmodule
/* verilator lint_on WIDTHEXPAND */
