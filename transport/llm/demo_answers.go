package llm

import "strings"

// demoTopic is one canned answer and the keywords that select it; the first
// topic with a keyword in the message wins, so specific topics come first.
type demoTopic struct {
	keywords []string
	text     string
	words    []string // text split into deltas: "Word", " word", ...
}

const demoFooter = " (Demo mode: general education, not personal financial advice.)"

var demoTopics = []*demoTopic{
	{
		keywords: []string{"compound"},
		text: "Compound interest means you earn returns not only on what you put in but also on the returns " +
			"you have already earned, so growth snowballs over time. For example, investing 200 a month at a " +
			"7 percent average annual return grows to roughly 104,000 after 20 years, although you contributed " +
			"only 48,000. Wait ten more years and it reaches about 244,000. The levers you control are time and " +
			"consistency: start early, contribute regularly, keep fees low and reinvest your earnings. The same " +
			"force works against you on credit card balances.",
	},
	{
		keywords: []string{"retire", "pension", "401k", "401(k)"},
		text: "Retirement planning rewards starting early. First capture any employer match in your workplace " +
			"plan, because it is an instant return on your money. A common guideline is to save about 15 percent " +
			"of your income for retirement, including the match, and to raise your contribution whenever your pay " +
			"goes up. Use tax-advantaged accounts where you can, invest in a diversified, low-cost mix that grows " +
			"more conservative as retirement approaches, and check your progress once a year.",
	},
	{
		keywords: []string{"debt", "loan", "credit card", "mortgage"},
		text: "To pay off debt, list every balance with its interest rate and minimum payment, and always pay the " +
			"minimums so nothing falls into default. Then pick a strategy: the avalanche method sends any extra " +
			"money to the highest interest rate first and saves the most, while the snowball method clears the " +
			"smallest balance first for quick wins that keep you motivated. Either works if you stick with it. " +
			"Ask lenders for a lower rate, avoid new charges, and roll each cleared payment into the next debt.",
	},
	{
		keywords: []string{"emergency", "saving", "save"},
		text: "An emergency fund is your financial shock absorber. Aim for three to six months of essential " +
			"expenses in a high-yield savings account that is easy to reach but separate from everyday spending. " +
			"If that feels like a lot, start with a first milestone of one month and build from there. Set up an " +
			"automatic transfer on payday, send windfalls such as tax refunds straight into the fund, use it only " +
			"for true emergencies like job loss or urgent repairs, and refill it as soon as you can.",
	},
	{
		keywords: []string{"invest", "stock", "index fund", "portfolio", "bond"},
		text: "For most long-term investors, low-cost, broadly diversified index funds make a sensible core. " +
			"Before investing, make sure you have an emergency fund and no high-interest debt. Choose an asset mix " +
			"that fits your time horizon and how you would feel if your portfolio fell 30 percent in a bad year: " +
			"more stocks for long horizons, more bonds as you need the money sooner. Keep fees low, invest " +
			"automatically every month, rebalance once a year, and remember that time in the market beats timing it.",
	},
	{
		keywords: []string{"budget", "spend", "expense"},
		text: "A simple way to take control of your budget is the 50/30/20 rule: about half of your take-home pay " +
			"for needs such as rent, food and transport, 30 percent for wants, and 20 percent for saving or paying " +
			"down debt. List last month's spending from your statements and sort it into those three buckets. Pick " +
			"one category where you overspent and set a realistic limit for next month. Automate your savings on " +
			"payday, and review the numbers for ten minutes each week.",
	},
}

var demoDefault = &demoTopic{
	text: "Great question. A strong financial foundation usually comes in steps: know where your money goes each " +
		"month, build a small emergency buffer, pay down high-interest debt, grow your emergency fund to three " +
		"to six months of expenses, then invest for long-term goals such as retirement. Write down one or two " +
		"specific goals with an amount and a date, because concrete goals are easier to fund automatically. Tell " +
		"me about your income, expenses, debts or goals and I can suggest a more tailored next step.",
}

func init() {
	for _, t := range append(demoTopics, demoDefault) {
		t.words = splitDeltas(t.text + demoFooter)
	}
}

// splitDeltas splits text into words, each after the first carrying its
// leading space, so the deltas concatenate back to the text.
func splitDeltas(text string) []string {
	fields := strings.Fields(text)
	out := make([]string, len(fields))
	for i, f := range fields {
		if i > 0 {
			f = " " + f
		}
		out[i] = f
	}
	return out
}

// demoAnswerFor returns the deltas of the answer to msg. The slice is
// shared: callers must not modify it.
func demoAnswerFor(msg string) []string {
	msg = strings.ToLower(msg)
	for _, t := range demoTopics {
		for _, k := range t.keywords {
			if strings.Contains(msg, k) {
				return t.words
			}
		}
	}
	return demoDefault.words
}
