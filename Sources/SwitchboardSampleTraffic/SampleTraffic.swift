import SwitchboardProtocol

/// A realistic mix of contacts for `switchboard demo` and `switchboard-bench`: every channel,
/// English, Persian and Russian texts, phone numbers written in Latin, Persian and Arabic-Indic
/// digits, repeat customers.
public struct DemoTraffic {
    private var generator: SplitMix
    private let gateway: String
    /// Distinguishes this run's message ids from an earlier run's, which the hub would ACK as duplicates.
    private let run: Int64
    private var sequence = 0

    public init(gateway: String, seed: UInt64, run: Int64) {
        self.gateway = gateway
        self.run = run
        generator = SplitMix(seed: seed)
    }

    public static let texts: [(language: String, text: String)] = [
        ("en", "Hello, I would like a price quote for 20 licences and a discount if we order this month."),
        ("en", "My internet is not working since yesterday, please help."),
        ("en", "The washing machine is broken, can a technician visit on Friday for a repair?"),
        ("en", "Please unsubscribe me from the newsletter."),
        ("en", "I want a refund for the duplicate charge on my invoice, this is a complaint."),
        ("en", "Can I upgrade my plan and buy the premium package?"),
        ("fa", "سلام، قیمت بسته سالانه چقدر است؟ می‌خواهم سفارش بدهم."),
        ("fa", "اینترنت من کار نمی‌کند، لطفاً پشتیبانی کنید. مشکل از دیروز است."),
        ("fa", "کولر خراب شده است، لطفاً یک تکنسین برای تعمیر بفرستید."),
        ("fa", "لطفاً مرا از خبرنامه حذف کنید، لغو اشتراک."),
        ("fa", "از خدمات شما شکایت دارم و درخواست بازپرداخت دارم."),
        ("ru", "Здравствуйте, какая цена подписки? Хочу купить на год."),
        ("ru", "У меня не работает приложение, выдаёт ошибку при входе. Помощь нужна."),
        ("ru", "Нужен мастер для установки счётчика, когда возможен выезд?"),
        ("ru", "Отписаться от рассылки, пожалуйста."),
        ("ru", "Жалоба: деньги списали дважды, требую возврат."),
    ]

    public static let channels = ["phone", "email", "web", "chat", "sms", "mail", "fax", "in_person"]

    /// Digits of the same number in the scripts customers type them in.
    public static func phone(_ index: Int, style: Int) -> String {
        let national = String(9_120_000_000 + index * 7919 % 9_999_999)
        switch style {
        case 0: return "0" + national
        case 1: return "۰" + String(national.map { Character(Unicode.Scalar(0x06F0 + UInt32(String($0))!)!) })
        case 2: return "٠٠٩٨" + String(national.map { Character(Unicode.Scalar(0x0660 + UInt32(String($0))!)!) })
        default: return "+7 (912) \(100 + index % 900)-\(10 + index % 89)-\(10 + index % 83)"
        }
    }

    public mutating func next(nowMs: Int64) -> Publish {
        sequence += 1
        let customer = Int(generator.next() % 300)
        let sample = Self.texts[Int(generator.next() % UInt64(Self.texts.count))]
        let channel = Self.channels[Int(generator.next() % UInt64(Self.channels.count))]
        var hints = IdentityHints(name: "Customer \(customer)")
        switch channel {
        case "email", "web": hints.email = "  Customer.\(customer)@Example.COM "
        case "chat": hints.deviceID = "cookie-\(customer)"
        case "mail", "in_person": hints.externalID = "CRM-\(100_000 + customer)"
        default: hints.phone = Self.phone(customer, style: sample.language == "ru" ? 3 : customer % 3)
        }
        // One customer in 25 is a reseller; one message in five carries an order's value, which value tiers sum.
        if customer % 25 == 0 { hints.kind = .partner }
        var attributes = ["demo": "true"]
        if generator.next() % 5 == 0 { attributes["order_value"] = String(20 + customer * 37 % 480) }
        let priority = generator.next() % 10 == 0 ? 7 : 0
        if generator.next() % 12 == 0 {
            return feedback(customer: customer, channel: channel, hints: hints, nowMs: nowMs)
        }
        return Publish(
            messageID: "\(gateway)-\(run)-\(sequence)", channel: channel, occurredAt: nowMs, hints: hints,
            // An SMS or fax gateway cannot tell the language: the hub detects it from the letters.
            priority: Int(priority), language: ["sms", "fax"].contains(channel) ? nil : sample.language, body: Array(sample.text.utf8),
            attributes: attributes)
    }
}

extension DemoTraffic {
    static let complaintCategories = ["billing", "waiting_time", "rude_staff", "no_show", "product_fault"]
    static let returnReasons = ["wrong_size", "damaged", "not_as_described"]

    /// Feedback as a channel would send it: scores, surveys, returns and complaints, in the mix a
    /// contact center sees. One customer in seven is unhappy with us, and scores so.
    mutating func feedback(customer: Int, channel: String, hints: IdentityHints, nowMs: Int64) -> Publish {
        let unhappy = customer % 7 == 0
        let roll = generator.next() % 10
        let feedback: Feedback
        var text = ""
        switch roll {
        case 0..<4:
            feedback = Feedback(kind: .csat, score: unhappy ? 1 + Int(generator.next() % 2) : 3 + Int(generator.next() % 3))
        case 4, 5:
            feedback = Feedback(kind: .nps, score: unhappy ? Int(generator.next() % 7) : 7 + Int(generator.next() % 4))
        case 6:
            let ease = unhappy ? 1 + Int64(generator.next() % 2) : 3 + Int64(generator.next() % 3)
            feedback = Feedback(
                kind: .survey, score: Int(ease), answers: ["ease": .integer(ease), "speed": .integer(1 + Int64(generator.next() % 5))])
        case 7:
            feedback = Feedback(kind: .return, category: Self.returnReasons[Int(generator.next() % UInt64(Self.returnReasons.count))])
            text = "I am sending the order back."
        default:
            let category = Self.complaintCategories[Int(generator.next() % UInt64(Self.complaintCategories.count))]
            feedback = Feedback(kind: .complaint, category: category)
            text = "I want to complain about \(category.split(separator: "_").joined(separator: " ")). This is not acceptable."
        }
        return Publish(
            messageID: "\(gateway)-\(run)-\(sequence)", channel: channel, occurredAt: nowMs, hints: hints, language: "en", body: Array(text.utf8),
            attributes: ["demo": "true"], feedback: feedback)
    }
}

/// A small deterministic random source, so demo and bench runs are reproducible.
public struct SplitMix {
    private var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var value = state
        value = (value ^ (value >> 30)) &* 0xBF58_476D_1CE4_E5B9
        value = (value ^ (value >> 27)) &* 0x94D0_49BB_1331_11EB
        return value ^ (value >> 31)
    }
}
